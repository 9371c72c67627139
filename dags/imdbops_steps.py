"""What both imdbops DAG files share: one Airflow task per step, run by the ``imdbops`` CLI.

Each task runs ``imdbops <group> task <name> --run-id <run> --upstream '<json of each
upstream task>'``; its last stdout line is the XCom value the next task checks its inputs
against. Where it runs is the *workdir mode* (``imdbops_commands.py``):

- ``shared``: ``cd <project root> && <core venv>/bin/imdbops ...`` (one project folder);
- ``fresh``: the core venv's ``imdbops`` in a new temporary folder (its HOME and
  ``paths.root``) removed afterwards: nothing shared but ``paths.artifacts_url`` and the
  servers, so any worker can run any task;
- ``kubernetes``: a ``KubernetesPodOperator`` pod from the project image per task
  (``imdbops_pods.py``), with the ConfigMap and Secret of ``deploy/k8s``.

Every setting (mode, core virtualenv, project root, artifacts URL, image, namespace) is
read by ``imdbops_settings.py``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from airflow.sdk import dag, task

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded on its own

import imdbops_commands as commands  # noqa: E402
import imdbops_settings as settings  # noqa: E402


def step_command(group: str, name: str, upstream: list, run_id: str, mode: str = "shared") -> str:
    """The bash command of one step in ``shared`` or ``fresh`` mode."""
    url, tell = settings.artifacts_url()
    return commands.bash_command(
        mode,
        settings.core_imdbops(),
        commands.step_args(group, name, upstream, run_id),
        root=settings.project_root(),
        exports={commands.ARTIFACTS_URL_ENV: url} if tell else None,
    )


def steps_dag(definition, group: str, tags: list[str], doc_md: str, mode: str | None = None):
    """The Airflow DAG of an imdbops DAG definition module (``imdbops.pipelines.training``,
    ``imdbops.pipelines.scoring``): its task names and edges, each task running
    ``imdbops <group> task <name>``."""
    mode = mode or settings.airflow_mode()
    if mode == "kubernetes":
        import imdbops_pods  # the provider is needed in this mode only

        make_step = imdbops_pods.pod_step_factory(definition, group)
    else:

        def make_step(name: str):
            @task.bash(task_id=name, doc_md=definition.SPEC_BY_NAME[name].description or None)
            def step(upstream: list, **context) -> str:
                return step_command(group, name, list(upstream or []), context["run_id"], mode)

            return step

    @dag(
        dag_id=definition.DAG_NAME,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        # One run of a DAG at a time: a second is queued, not run against the first's store.
        max_active_runs=1,
        tags=[*tags, f"mode:{mode}"],
        default_args={"retries": 0},
        doc_md=doc_md,
    )
    def steps():
        outputs = {}
        for name in definition.TASK_NAMES:  # already in topological order
            ups = [u for u, d in definition.EDGES if d == name]
            outputs[name] = make_step(name)(upstream=[outputs[u] for u in ups])

    return steps()
