"""Airflow 3 DAG ``imdb_scoring``: extract unrated -> score -> publish, as the Orchestrator runs it.

Task names and edges come from ``imdbops.scoring_dag`` (standard library only at import,
like ``imdbops.pipelines`` for ``imdb_training``). Each task runs one step in the *core*
virtualenv:

    cd <project root> && <core venv>/bin/imdbops score task <name> --run-id <run> \
        --upstream '<json of each upstream task>'

whose last stdout line (paths and sha256 of the outputs) is the XCom value the next task
checks its inputs against. Settings as in ``imdb_training.py``: ``IMDBOPS_CORE_VENV`` /
Variable ``imdbops_core_venv`` and ``IMDBOPS_PROJECT_ROOT`` / ``imdbops_project_root``.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from datetime import datetime
from pathlib import Path

from airflow.sdk import Variable, dag, task

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from imdbops.scoring_dag import DAG_NAME, EDGES, SPEC_BY_NAME, TASK_NAMES  # noqa: E402


def _setting(env: str, variable: str, default: Path) -> str:
    return os.environ.get(env) or str(Variable.get(variable, default=str(default)))


def step_command(name: str, upstream: list[str], run_id: str) -> str:
    venv = Path(_setting("IMDBOPS_CORE_VENV", "imdbops_core_venv", REPO / ".venv"))
    root = _setting("IMDBOPS_PROJECT_ROOT", "imdbops_project_root", REPO)
    safe_run_id = re.sub(r"[^A-Za-z0-9._:+-]", "_", run_id)[:200] or "airflow"
    args = [str(venv / "bin" / "imdbops"), "score", "task", name, "--run-id", safe_run_id]
    for report in upstream:
        args += ["--upstream", report]
    return f"cd {shlex.quote(root)} && exec {shlex.join(args)}"


def make_step(name: str):
    @task.bash(task_id=name, doc_md=SPEC_BY_NAME[name].description or None)
    def step(upstream: list[str], **context) -> str:
        return step_command(name, list(upstream or []), context["run_id"])

    return step


@dag(
    dag_id=DAG_NAME,
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["imdbops", "scoring"],
    default_args={"retries": 0},
    doc_md=__doc__,
)
def imdb_scoring():
    outputs = {}
    for name in TASK_NAMES:  # already in topological order
        ups = [u for u, d in EDGES if d == name]
        outputs[name] = make_step(name)(upstream=[outputs[u] for u in ups])


imdb_scoring()
