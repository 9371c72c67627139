"""What the Airflow tests share: the two virtualenvs, a checked subprocess, a clean env.

Airflow lives in its own virtualenv (``make airflow-env``); these tests run in the core one
and drive Airflow through subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
AIRFLOW_VENV = REPO / ".venv-airflow"
CORE_BIN = Path(sys.executable).parent


def run(args, env, cwd, timeout=900) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, args))} exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    )
    return proc


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any imdbops or Airflow setting, plus a private
    AIRFLOW_HOME over the repository's DAG folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMDBOPS_", "AIRFLOW"))}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    env.update(extra)
    return env


RECORDER = """\
import json, os, sys, time
if os.environ.get("RECORDER_SLEEP"):
    print(os.getcwd(), flush=True)
    time.sleep(float(os.environ["RECORDER_SLEEP"]))
seen = {
    "cwd": os.getcwd(),
    "home": os.environ.get("HOME"),
    "root": os.environ.get("IMDBOPS_PATHS__ROOT"),
    "config": os.environ.get("IMDBOPS_CONFIG"),
    "inherited": os.environ.get("IMDBOPS_TRAINING__N_TRIALS"),
    "artifacts_url": os.environ.get("IMDBOPS_PATHS__ARTIFACTS_URL"),
    "files": sorted(os.listdir(".")),
    "argv": sys.argv[1:],
}
print("some progress line")
print(json.dumps(seen))
sys.exit(int(os.environ.get("RECORDER_EXIT", "0")))
"""


def make_recorder(folder: Path) -> Path:
    """An ``imdbops`` executable in ``folder`` that prints a line, then (last) the JSON of
    what it was given: folder, HOME, settings, arguments. For checking what a task wrapper
    hands the step, not the step itself. ``RECORDER_EXIT`` sets its exit code;
    ``RECORDER_SLEEP`` prints its folder first, then sleeps."""
    exe = folder / "imdbops"
    folder.mkdir(parents=True, exist_ok=True)
    exe.write_text(f"#!{sys.executable}\n{RECORDER}")
    exe.chmod(0o755)
    return exe


def probe_dag(dag_id: str, env: dict[str, str], cwd: Path) -> dict:
    """Import the DAG folder with Airflow's DagBag (in the Airflow venv); returns the import
    errors, and the DAG's task ids, tags, max_active_runs and sorted ``[upstream, downstream]`` edges."""
    script = textwrap.dedent(
        f"""
        import json
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS)!r})
        dag = bag.get_dag({dag_id!r})
        print(json.dumps({{
            "errors": {{str(k): str(v) for k, v in bag.import_errors.items()}},
            "tasks": [t.task_id for t in dag.tasks] if dag else None,
            "tags": sorted(dag.tags) if dag else None,
            "max_active_runs": dag.max_active_runs if dag else None,
            "edges": sorted([u, t.task_id] for t in dag.tasks for u in t.upstream_task_ids)
            if dag else None,
        }}))
        """
    )
    probe = run([str(AIRFLOW_VENV / "bin" / "python"), "-c", script], env, cwd)
    return json.loads(probe.stdout.strip().splitlines()[-1])
