"""The Airflow DAG: built in its own virtualenv and imported by DagBag, in shared mode.

It is run end to end by test_airflow_multi_machine.py (`airflow dags test`, then the
Orchestrator on another machine finds every task cached: both run the very same task
definitions over one cache).
"""

from __future__ import annotations

import textwrap

import pytest
from support.airflow_kit import AIRFLOW_VENV, CORE_BIN, airflow_env, probe_dag
from support.airflow_kit import run as _run

from imdbops.pipelines.training import DAG_NAME, EDGES, TASK_NAMES

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.mark.timeout(1800)
def test_airflow_dag_imports_with_the_pipelines_tasks_and_edges(airflow_python, tmp_path):
    project, home = tmp_path / "project", tmp_path / "airflow-home"
    project.mkdir()
    home.mkdir()
    config = project / "imdbops.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            paths: {{root: {project}}}
            warehouse: {{max_rows: 3000}}
            training: {{n_trials: 2, timeout_s: 20, bootstrap_samples: 100}}
            """
        )
    )
    env = airflow_env(
        home,
        IMDBOPS_CONFIG=str(config),
        IMDBOPS_PROJECT_ROOT=str(project),
        IMDBOPS_CORE_VENV=str(CORE_BIN.parent),
    )
    airflow = str(AIRFLOW_VENV / "bin" / "airflow")
    _run([airflow, "db", "migrate"], env, project)

    found = probe_dag(DAG_NAME, env, project)
    assert found["errors"] == {}
    assert found["tasks"] == list(TASK_NAMES)
    assert "mode:shared" in found["tags"], "no remote artifacts URL: one shared project folder"
    assert found["edges"] == sorted([u, d] for u, d in EDGES)
    assert found["max_active_runs"] == 1  # a second run queues behind the first

    # Running it for real: test_airflow_multi_machine.py runs this DAG with `airflow dags
    # test` (every task in a fresh folder against the servers); shared mode differs only in
    # the command, checked in test_airflow_workdir_modes.py.
