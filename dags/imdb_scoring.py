"""Airflow 3 DAG ``imdb_scoring``: extract unrated -> score -> publish, as the Orchestrator runs it.

Task names and edges come from ``imdbops.pipelines.scoring`` (standard library only at
import, like ``imdbops.pipelines.training`` for ``imdb_training``). Each task runs one step in the *core*
virtualenv:

    cd <project root> && <core venv>/bin/imdbops score task <name> --run-id <run> \
        --upstream '<json of each upstream task>'

whose last stdout line (paths and sha256 of the outputs) is the XCom value the next task
checks its inputs against. Workdir modes and settings as in ``imdb_training.py``
(``imdbops_settings.py`` lists them).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The shared helper sits beside this file; Airflow puts the DAG folder on sys.path too.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import imdbops_steps  # noqa: E402

from imdbops.pipelines import scoring  # noqa: E402

imdb_scoring = imdbops_steps.steps_dag(scoring, "score", ["imdbops", "scoring"], __doc__)
