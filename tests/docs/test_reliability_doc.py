"""``scripts/reliability_doc.py``: the reliability page is written on request from the rows
the suite recorded, never by the test session itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "reliability_doc.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_rows_become_the_sorted_table(tmp_path):
    rows = tmp_path / "rows"
    rows.mkdir()
    for i, (group, scenario) in enumerate([("z", "last"), ("api", "a | b")]):
        row = {"group": group, "scenario": scenario, "action": "did", "outcome": "ok",
               "figures": {"n": i}, "test": "t"}  # fmt: skip
        (rows / f"{i}.json").write_text(json.dumps(row))
    out = tmp_path / "reliability.md"
    out.write_text("the previous page\n")
    done = _run("--rows", str(rows), "--out", str(out))
    assert done.returncode == 0, done.stderr
    table = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    assert table[1:] == ["| api | a \\| b | did | ok | n=1 |", "| z | last | did | ok | n=0 |"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_no_rows_keeps_the_page_and_says_what_to_run(tmp_path):
    out = tmp_path / "reliability.md"
    out.write_text("the previous page\n")
    done = _run("--rows", str(tmp_path / "none"), "--out", str(out))
    assert done.returncode == 2
    assert "run the reliability suite first" in done.stderr
    assert out.read_text() == "the previous page\n"
