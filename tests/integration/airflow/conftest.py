"""The Airflow virtualenv, built once per session (under a lock, see the Makefile)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.airflow_kit import AIRFLOW_VENV, REPO, run


@pytest.fixture(scope="session")
def airflow_python() -> Path:
    """``make airflow-env`` (a no-op when the venv is up to date, so reruns are fast)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    run(["make", "airflow-env"], env, REPO, timeout=1200)
    python = AIRFLOW_VENV / "bin" / "python"
    assert python.exists()
    return python
