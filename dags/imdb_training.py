"""Airflow 3 DAG ``imdb_training``: the same training DAG the Orchestrator runs.

One definition of the steps: task names and edges come from ``imdbops.pipelines.training``
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

Where a task runs (``IMDBOPS_AIRFLOW_MODE``): ``shared`` (as above, one project folder; the
default unless ``paths.artifacts_url`` is remote), ``fresh`` (a new empty folder per task,
the default when it is remote) or ``kubernetes`` (a pod per task). Every setting is listed
in ``imdbops_settings.py``. ``IMDBOPS_CONFIG`` (and any ``IMDBOPS_*``) in the worker's
environment reach the step.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The shared helper sits beside this file; Airflow puts the DAG folder on sys.path too.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import imdbops_steps  # noqa: E402

from imdbops.pipelines import training  # noqa: E402

imdb_training = imdbops_steps.steps_dag(training, "pipeline", ["imdbops", "training"], __doc__)
