"""The OpenAPI document is the contract the server enforces: Schemathesis, run against the live
server (real uvicorn on loopback, a small trained champion) with every check it has.

``--checks all`` includes response-schema conformance (every answer, errors too, matches the
declared envelope), positive-data acceptance (a request the document allows is answered 2xx)
and negative-data rejection (one it forbids, e.g. ``"explain": 0``, is refused with a 4xx),
besides "never a 5xx". Bounded by ``MAX_EXAMPLES`` per operation and a fixed seed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MAX_EXAMPLES = 25  # per operation and phase: keeps the run within ~60 s on 2 cores


def test_the_server_honours_its_openapi_document_under_every_schemathesis_check(server, tmp_path):
    cli = Path(sys.executable).with_name("schemathesis")
    report = tmp_path / "report"
    run = subprocess.run(
        [
            str(cli),
            "run",
            f"{server.url}/api/v1/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "29",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    assert "No issues found" in output or " 0 failures" in output or "passed" in output, output
