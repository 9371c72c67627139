"""A small, general DAG runner: tasks are plain functions with declared inputs, outputs and
parameters. It knows nothing about movies and imports only the standard library (plus
``imdbops.atomic``), so the Airflow virtualenv can import task definitions too.

    from imdbops.orchestrator import DAG, Task, Runner
    a = Task("a", make_numbers, outputs=["numbers"], params={"n": 10})
    b = Task("b", square, inputs=["numbers"], outputs=["squares"], retries=2, timeout_s=30)
    dag = DAG("toy", [a, b], catalog={"numbers": "n.json", "squares": "s.json"})
    Runner(dag, runs_dir="runs", cache_dir=".cache").run()
"""

from imdbops.orchestrator.dag import DAG, DagError
from imdbops.orchestrator.lock import RunLockedError
from imdbops.orchestrator.manifest import Manifest, ManifestError, list_runs
from imdbops.orchestrator.runner import MissingInputError, Runner, RunResult
from imdbops.orchestrator.task import Task, task
from imdbops.orchestrator.worker import TaskTimeoutError

__all__ = [
    "DAG",
    "DagError",
    "Manifest",
    "ManifestError",
    "MissingInputError",
    "RunLockedError",
    "RunResult",
    "Runner",
    "Task",
    "TaskTimeoutError",
    "list_runs",
    "task",
]
