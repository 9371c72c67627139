"""Fixtures shared by every test: an isolated project root and its Config."""

from __future__ import annotations

import json
import shutil

import ports
import pytest
from pg_server import postgres_server  # noqa: F401  (one PostgreSQL server per session)

from imdbops.config import Config, load_config


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Config:
    """A Config whose every path lives under a fresh temporary folder."""
    monkeypatch.delenv("IMDBOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    config = load_config(paths={"root": tmp_path})
    config.ensure_dirs()
    return config


@pytest.fixture
def free_port() -> int:
    return ports.free_port()


# ---- the reliability suite's results table (see tests/reliability/conftest.py) ----------
# These hooks live here because the xdist controller loads only this conftest.


def _is_controller(config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_sessionstart(session):
    from reliability.relkit import ROWS_DIR

    if _is_controller(session.config):
        shutil.rmtree(ROWS_DIR, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus):
    from reliability.relkit import ROWS_DIR, write_doc

    if not _is_controller(session.config) or not ROWS_DIR.exists():
        return
    rows = [json.loads(p.read_text()) for p in sorted(ROWS_DIR.glob("*.json"))]
    if rows:
        write_doc(rows)
