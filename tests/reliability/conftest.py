"""Reliability suite plumbing: every scenario records a row; the session writes the table.

Rows go to ``reports/reliability/rows/*.json`` (one file per scenario, so xdist workers
never share a file); at the end of the session the controller turns them into
``docs/reliability.md``. Nothing in that table is written by hand.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from reliability.relkit import ingest_and_build, write_config, write_small_dumps

from imdbops.config import load_config

REPO = Path(__file__).resolve().parents[2]
ROWS_DIR = REPO / "reports" / "reliability" / "rows"
DOC = REPO / "docs" / "reliability.md"


def _is_controller(config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_sessionstart(session):
    if _is_controller(session.config):
        shutil.rmtree(ROWS_DIR, ignore_errors=True)
        ROWS_DIR.mkdir(parents=True, exist_ok=True)


def pytest_sessionfinish(session, exitstatus):
    if not _is_controller(session.config) or not ROWS_DIR.exists():
        return
    rows = [json.loads(p.read_text()) for p in sorted(ROWS_DIR.glob("*.json"))]
    if rows:
        write_doc(rows)


def write_doc(rows: list[dict[str, Any]]) -> None:
    rows.sort(key=lambda r: (r["group"], r["scenario"]))
    lines = [
        "# Reliability and security suite: results",
        "",
        "Written by `tests/reliability` at the end of its last run "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); do not edit by hand.",
        "Re-create with `.venv/bin/pytest tests/reliability`.",
        "",
        "| group | scenario | what was done | outcome | figures |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        figures = ", ".join(f"{k}={v}" for k, v in r.get("figures", {}).items())
        cells = [r["group"], r["scenario"], r["action"], r["outcome"], figures]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    DOC.write_text("\n".join(lines) + "\n")


@pytest.fixture
def record(request):
    """``record(group, scenario, action, outcome, **figures)`` adds a row to the table."""

    def _record(group: str, scenario: str, action: str, outcome: str, **figures: Any) -> None:
        ROWS_DIR.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() else "_" for c in f"{group}-{scenario}")
        row = {
            "group": group,
            "scenario": scenario,
            "action": action,
            "outcome": outcome,
            "figures": figures,
            "test": request.node.nodeid,
        }
        (ROWS_DIR / f"{safe}.json").write_text(json.dumps(row, default=str))

    return _record


@pytest.fixture(scope="session")
def template_warehouse(tmp_path_factory):
    """One warehouse built from 3,000 real movies, copied into every scenario."""
    root = tmp_path_factory.mktemp("template")
    config = write_config(root)
    basics, ratings = write_small_dumps(root / "dumps", n=3000)
    ingest_and_build(config, basics, ratings)
    return load_config(config).warehouse.path
