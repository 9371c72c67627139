"""Reliability suite plumbing: every scenario records a row (``record`` fixture).

Rows go to ``reports/reliability/rows/*.json`` (one file per scenario, so xdist workers
never share a file; ``tests/conftest.py`` clears them when a session starts).
``scripts/reliability_doc.py`` turns them into ``docs/reliability.md`` when run: the test
session itself writes no tracked file, and nothing in that table is written by hand.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.relkit import (
    ROWS_DIR,
    ingest_and_build,
    write_config,
    write_small_dumps,
)

from imdbops.config import load_config


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
