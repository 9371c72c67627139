"""What both imdbops DAG files share: one Airflow task per step, run by the ``imdbops`` CLI.

Each task runs ``cd <project root> && <core venv>/bin/imdbops <group> task <name> --run-id
<run> --upstream '<json of each upstream task>'`` in the *core* virtualenv; its last stdout
line is the XCom value the next task checks its inputs against.

Settings (environment variable first, then Airflow Variable, then the default):
  IMDBOPS_CORE_VENV     / Variable imdbops_core_venv     default <repo>/.venv
  IMDBOPS_PROJECT_ROOT  / Variable imdbops_project_root  default <repo>
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


def _setting(env: str, variable: str, default: Path) -> str:
    return os.environ.get(env) or str(Variable.get(variable, default=str(default)))


def safe_run_id(run_id: str) -> str:
    """Airflow run ids (``manual__2026-01-01T00:00:00+00:00``) as an imdbops run id."""
    return re.sub(r"[^A-Za-z0-9._:+-]", "_", run_id)[:200] or "airflow"


def step_command(group: str, name: str, upstream: list[str], run_id: str) -> str:
    venv = Path(_setting("IMDBOPS_CORE_VENV", "imdbops_core_venv", REPO / ".venv"))
    root = _setting("IMDBOPS_PROJECT_ROOT", "imdbops_project_root", REPO)
    args = [str(venv / "bin" / "imdbops"), group, "task", name, "--run-id", safe_run_id(run_id)]
    for report in upstream:
        args += ["--upstream", report]
    return f"cd {shlex.quote(root)} && exec {shlex.join(args)}"


def steps_dag(definition, group: str, tags: list[str], doc_md: str):
    """The Airflow DAG of an imdbops DAG definition module (``pipelines``, ``scoring_dag``):
    its task names and edges, each task running ``imdbops <group> task <name>``."""

    def make_step(name: str):
        @task.bash(task_id=name, doc_md=definition.SPEC_BY_NAME[name].description or None)
        def step(upstream: list[str], **context) -> str:
            return step_command(group, name, list(upstream or []), context["run_id"])

        return step

    @dag(
        dag_id=definition.DAG_NAME,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=tags,
        default_args={"retries": 0},
        doc_md=doc_md,
    )
    def steps():
        outputs = {}
        for name in definition.TASK_NAMES:  # already in topological order
            ups = [u for u, d in definition.EDGES if d == name]
            outputs[name] = make_step(name)(upstream=[outputs[u] for u in ups])

    return steps()
