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

Settings (environment variable first, then Airflow Variable, then the default):
  IMDBOPS_AIRFLOW_MODE         / imdbops_airflow_mode     default fresh if the artifacts URL
                                                          is remote, else shared
  IMDBOPS_PATHS__ARTIFACTS_URL / imdbops_artifacts_url    default paths.artifacts_url of the
                                  YAML in IMDBOPS_CONFIG (or <project root>/imdbops.yaml)
  IMDBOPS_CORE_VENV            / imdbops_core_venv        default <repo>/.venv
  IMDBOPS_PROJECT_ROOT         / imdbops_project_root     default <repo> (shared mode)
  IMDBOPS_IMAGE, IMDBOPS_K8S_NAMESPACE (kubernetes mode): see imdbops_pods.py
The mode and the kubernetes-mode settings are read when Airflow parses the DAG, the others
when a task starts.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from airflow.sdk import Variable, dag, task

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(HERE), str(REPO / "src")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import imdbops_commands as commands  # noqa: E402


def setting(env: str, variable: str, default: str | Path | None = None) -> str | None:
    value = os.environ.get(env) or Variable.get(variable, default=None)
    if value:
        return str(value)
    return None if default is None else str(default)


def artifacts_url() -> tuple[str, bool]:
    """The artifacts URL and whether a task must be told it (it came from a Variable, which
    the step's own config loader cannot see)."""
    if os.environ.get(commands.ARTIFACTS_URL_ENV):
        return os.environ[commands.ARTIFACTS_URL_ENV], False
    from_variable = Variable.get("imdbops_artifacts_url", default=None)
    if from_variable:
        return str(from_variable), True
    # As the step's config loader finds it: shared-mode tasks start in the project root.
    root = Path(setting("IMDBOPS_PROJECT_ROOT", "imdbops_project_root", REPO))
    return commands.artifacts_url_in_yaml(
        root / (os.environ.get("IMDBOPS_CONFIG") or "imdbops.yaml")
    ), False


def airflow_mode() -> str:
    explicit = setting("IMDBOPS_AIRFLOW_MODE", "imdbops_airflow_mode")
    return commands.choose_mode(explicit, None if explicit else artifacts_url()[0])


def step_command(group: str, name: str, upstream: list, run_id: str, mode: str = "shared") -> str:
    """The bash command of one step in ``shared`` or ``fresh`` mode."""
    venv = Path(setting("IMDBOPS_CORE_VENV", "imdbops_core_venv", REPO / ".venv"))
    url, tell = artifacts_url()
    return commands.bash_command(
        mode,
        str(venv / "bin" / "imdbops"),
        commands.step_args(group, name, upstream, run_id),
        root=setting("IMDBOPS_PROJECT_ROOT", "imdbops_project_root", REPO),
        exports={commands.ARTIFACTS_URL_ENV: url} if tell else None,
    )


def steps_dag(definition, group: str, tags: list[str], doc_md: str, mode: str | None = None):
    """The Airflow DAG of an imdbops DAG definition module (``pipelines``, ``scoring_dag``):
    its task names and edges, each task running ``imdbops <group> task <name>``."""
    mode = mode or airflow_mode()
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
