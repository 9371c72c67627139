"""The Airflow DAG ``imdb_scoring``: imported by DagBag, run by ``airflow dags test``, each
task through ``imdbops score task`` in the core virtualenv, into one run manifest."""

from __future__ import annotations

import json
import os

import duckdb
import pytest
from integration.scoring.conftest import project_config
from support.airflow_kit import AIRFLOW_VENV, CORE_BIN, REPO, probe_dag
from support.airflow_kit import run as _run
from support.scoring_fixtures import UNRATED, first_dump

from imdbops.dataops.warehouse import ingest_imdb
from imdbops.pipelines.scoring import DAG_NAME, EDGES, TASK_NAMES

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.mark.timeout(1800)
def test_airflow_scoring_dag_runs_end_to_end(tmp_path, shared_tracking):
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    _run(["make", "airflow-env"], env, REPO, timeout=1200)
    project, home = tmp_path / "project", tmp_path / "airflow-home"
    project.mkdir()
    home.mkdir()
    cfg, config = project_config(project, shared_tracking)
    ingest_imdb(cfg, *first_dump(tmp_path / "dump"))
    env = {k: v for k, v in env.items() if not k.startswith(("IMDBOPS_", "AIRFLOW"))}
    env.update(
        IMDBOPS_CONFIG=str(config),
        IMDBOPS_PROJECT_ROOT=str(project),
        IMDBOPS_CORE_VENV=str(CORE_BIN.parent),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    airflow = str(AIRFLOW_VENV / "bin" / "airflow")
    _run([airflow, "db", "migrate"], env, project)
    found = probe_dag(DAG_NAME, env, project)
    assert found["errors"] == {}
    assert found["tasks"] == list(TASK_NAMES)
    assert found["edges"] == sorted([u, d] for u, d in EDGES)

    _run([airflow, "dags", "test", DAG_NAME], env, project, timeout=1500)
    runs = [p for p in (project / "runs").iterdir() if (p / "manifest.json").exists()]
    assert len(runs) == 1, "every Airflow task records into the one run's manifest"
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    assert {n: t["state"] for n, t in manifest["tasks"].items()} == dict.fromkeys(
        TASK_NAMES, "succeeded"
    )
    with duckdb.connect(str(cfg.warehouse.path), read_only=True) as con:
        scored = con.execute("select count(*) from main.predictions").fetchone()[0]
    assert scored == len(UNRATED)
