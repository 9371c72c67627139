"""The Airflow DAG: built in its own virtualenv, imported by DagBag, run end to end.

Then the Orchestrator runs the same DAG in the same project: every task is a cache hit,
because both run the very same task definitions and share one cache.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from integration.airflow.airflow_kit import AIRFLOW_VENV, CORE_BIN, DAGS, airflow_env
from integration.airflow.airflow_kit import run as _run

from imdbops.pipelines import DAG_NAME, EDGES, TASK_NAMES

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.mark.timeout(1800)
def test_airflow_dag_imports_and_runs_end_to_end(airflow_python, tmp_path):
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
    imdbops = str(CORE_BIN / "imdbops")
    _run([imdbops, "data", "ingest", "--source", "bundled"], env, project)
    _run([imdbops, "warehouse", "build"], env, project)

    airflow = str(AIRFLOW_VENV / "bin" / "airflow")
    _run([airflow, "db", "migrate"], env, project)

    probe = _run(
        [
            str(airflow_python),
            "-c",
            textwrap.dedent(
                f"""
                import json
                from airflow.dag_processing.dagbag import DagBag
                bag = DagBag(dag_folder={str(DAGS)!r})
                dag = bag.get_dag({DAG_NAME!r})
                print(json.dumps({{
                    "errors": {{str(k): str(v) for k, v in bag.import_errors.items()}},
                    "tasks": [t.task_id for t in dag.tasks] if dag else None,
                    "tags": sorted(dag.tags) if dag else None,
                    "edges": sorted([u, t.task_id] for t in dag.tasks for u in t.upstream_task_ids)
                    if dag else None,
                }}))
                """
            ),
        ],
        env,
        project,
    )
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    assert found["tasks"] == list(TASK_NAMES)
    assert "mode:shared" in found["tags"], "no remote artifacts URL: one shared project folder"
    assert found["edges"] == sorted([u, d] for u, d in EDGES)

    _run([airflow, "dags", "test", DAG_NAME], env, project, timeout=1500)
    runs = [p for p in (project / "runs").iterdir() if (p / "manifest.json").exists()]
    assert len(runs) == 1, "every Airflow task records into the one run's manifest"
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert {n: t["state"] for n, t in manifest["tasks"].items()} == dict.fromkeys(
        TASK_NAMES, "succeeded"
    )
    decision = json.loads((project / "data" / "processed" / "decision.json").read_text())
    assert decision["decision"] in ("PROMOTE", "REJECT")

    # Same definitions, same cache: the Orchestrator finds nothing to do. (Only code edited
    # meanwhile may re-run a task, which matters when developing alongside the test.)
    _run([imdbops, "pipeline", "run", "--run-id", "after-airflow"], env, project)
    tasks = json.loads((project / "runs" / "after-airflow" / "manifest.json").read_text())["tasks"]
    reran = {
        n: t["reasons"] for n, t in tasks.items() if not t["reasons"][0].startswith("cache hit")
    }
    code_changed = any(r.startswith("code changed") for rs in reran.values() for r in rs)
    for name, reasons in reran.items():
        # A re-run is explained by its own code, or by the new output of one re-run for that.
        explained = any(r.startswith("code changed") for r in reasons) or (
            code_changed and reasons[0].startswith("input")
        )
        assert explained, (name, reasons)
    assert any(t["reasons"][0].startswith("cache hit") for t in tasks.values())
