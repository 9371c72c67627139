"""The Airflow DAG: built in its own virtualenv, imported by DagBag, run end to end.

Then the Orchestrator runs the same DAG in the same project: every task is a cache hit,
because both run the very same task definitions and share one cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imdbops.pipelines import DAG_NAME, EDGES, TASK_NAMES

REPO = Path(__file__).resolve().parents[3]
AIRFLOW_VENV = REPO / ".venv-airflow"
CORE_BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _run(args, env, cwd, timeout=900):
    proc = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, args))} exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    """``make airflow-env`` (a no-op when the venv is up to date, so reruns are fast)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    _run(["make", "airflow-env"], env, REPO, timeout=1200)
    python = AIRFLOW_VENV / "bin" / "python"
    assert python.exists()
    return python


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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMDBOPS_", "AIRFLOW"))}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env.update(
        IMDBOPS_CONFIG=str(config),
        IMDBOPS_PROJECT_ROOT=str(project),
        IMDBOPS_CORE_VENV=str(CORE_BIN.parent),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
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
                bag = DagBag(dag_folder={str(REPO / "dags")!r})
                dag = bag.get_dag({DAG_NAME!r})
                print(json.dumps({{
                    "errors": {{str(k): str(v) for k, v in bag.import_errors.items()}},
                    "tasks": [t.task_id for t in dag.tasks] if dag else None,
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
