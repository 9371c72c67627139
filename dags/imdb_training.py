"""Airflow 3 DAG ``imdb_training``: the same training DAG the Orchestrator runs.

One definition of the steps: task names and edges come from ``imdbops.pipelines``
(``TASK_SPECS``/``EDGES``), which imports only the standard library, so this file can read
it from Airflow's own virtualenv (Airflow pins an older FastAPI than our serving app, so the
two cannot share one environment). Each Airflow task runs one step in the *core* virtualenv:

    cd <project root> && <core venv>/bin/imdbops pipeline task <name> --run-id <run> \
        --upstream '<json of each upstream task>'

The last stdout line of that command (paths and sha256 of the task's outputs, and the
identity + record of its external outputs such as the registered model version) is the
task's XCom value; the next task passes it back with ``--upstream`` and refuses to run if a
file changed in between. Only paths, hashes and identities travel through XCom, never data
or credentials. Each step runs under the same contract as ``imdbops pipeline run``
(docs/step-contract.md): catalog locations, its own config view, external hit checks.

Settings (environment variable first, then Airflow Variable, then the default):
  IMDBOPS_CORE_VENV     / Variable imdbops_core_venv     default <repo>/.venv
  IMDBOPS_PROJECT_ROOT  / Variable imdbops_project_root  default <repo>
``IMDBOPS_CONFIG`` (and any ``IMDBOPS_*``) in the worker's environment reach the step.
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

from imdbops.pipelines import DAG_NAME, EDGES, SPEC_BY_NAME, TASK_NAMES  # noqa: E402


def _setting(env: str, variable: str, default: Path) -> str:
    value = os.environ.get(env)
    if value:
        return value
    return str(Variable.get(variable, default=str(default)))


def _safe_run_id(run_id: str) -> str:
    """Airflow run ids (``manual__2026-01-01T00:00:00+00:00``) as an imdbops run id."""
    return re.sub(r"[^A-Za-z0-9._:+-]", "_", run_id)[:200] or "airflow"


def step_command(name: str, upstream: list[str], run_id: str) -> str:
    venv = Path(_setting("IMDBOPS_CORE_VENV", "imdbops_core_venv", REPO / ".venv"))
    root = _setting("IMDBOPS_PROJECT_ROOT", "imdbops_project_root", REPO)
    args = [str(venv / "bin" / "imdbops"), "pipeline", "task", name, "--run-id", run_id]
    for report in upstream:
        args += ["--upstream", report]
    return f"cd {shlex.quote(root)} && exec {shlex.join(args)}"


def make_step(name: str):
    spec = SPEC_BY_NAME[name]

    @task.bash(task_id=name, doc_md=spec.description or None)
    def step(upstream: list[str], **context) -> str:
        return step_command(name, list(upstream or []), _safe_run_id(context["run_id"]))

    return step


@dag(
    dag_id=DAG_NAME,
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["imdbops", "training"],
    default_args={"retries": 0},
    doc_md=__doc__,
)
def imdb_training():
    outputs = {}
    for name in TASK_NAMES:  # already in topological order
        ups = [u for u, d in EDGES if d == name]
        outputs[name] = make_step(name)(upstream=[outputs[u] for u in ups])


imdb_training()
