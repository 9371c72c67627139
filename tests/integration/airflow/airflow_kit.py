"""What the Airflow tests share: the two virtualenvs, a checked subprocess, a clean env.

Airflow lives in its own virtualenv (``make airflow-env``); these tests run in the core one
and drive Airflow through subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DAGS = REPO / "dags"
AIRFLOW_VENV = REPO / ".venv-airflow"
CORE_BIN = Path(sys.executable).parent


def run(args, env, cwd, timeout=900) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, args))} exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    )
    return proc


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any imdbops or Airflow setting, plus a private
    AIRFLOW_HOME over the repository's DAG folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMDBOPS_", "AIRFLOW"))}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    env.update(extra)
    return env
