"""Fixtures shared by every test: an isolated project root and its Config."""

from __future__ import annotations

import shutil

import pytest
from support import ports
from support.pg_server import postgres_server  # noqa: F401  (one PostgreSQL server per session)

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


# ---- the reliability suite's rows (see tests/reliability/conftest.py) ------------------
# Cleared when a session starts, so they are the last run's; `scripts/reliability_doc.py`
# turns them into docs/reliability.md on request. The suite never writes a tracked file.
# This hook lives here because the xdist controller loads only this conftest.


def pytest_sessionstart(session):
    from support.relkit import ROWS_DIR

    if not hasattr(session.config, "workerinput"):  # the controller, not an xdist worker
        shutil.rmtree(ROWS_DIR, ignore_errors=True)
