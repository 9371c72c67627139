"""``imdbops serve`` as a user runs it."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

IMDBOPS = str(Path(sys.executable).parent / "imdbops")


def test_serve_on_a_busy_port_fails_with_a_clear_message(cfg, free_port):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port))
        busy.listen()
        result = subprocess.run(
            [IMDBOPS, "serve", "--host", "127.0.0.1", "--port", str(free_port)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cfg.paths.root,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{free_port}" in result.stderr
    assert "--port" in result.stderr and "Traceback" not in result.stderr


def test_serve_rejects_a_bad_port(cfg):
    result = subprocess.run(
        [IMDBOPS, "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cfg.paths.root,
    )
    assert result.returncode != 0
    assert "70000" in result.stderr and "Traceback" not in result.stderr
