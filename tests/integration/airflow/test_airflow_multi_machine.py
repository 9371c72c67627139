"""The training DAG across machines that share no disk (issue #15's demonstration).

Servers on 127.0.0.1: PostgreSQL (the warehouse, and the MLflow server's store), moto's S3
(the lake, the DVC remote, the artifact store and MLflow's artifacts) and `mlflow server`.
`airflow dags test` runs the training DAG in its default mode for a remote artifacts URL:
every task in its own new empty folder, which is its HOME, handed only the config, the
credentials and its upstream tasks' reports (XCom). One task is killed with SIGKILL; the run
is resumed from another machine (folder); a no-change run on a third runs nothing; the API
on a fourth serves the champion from the MLflow server, and its prediction log reaches S3.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from support.airflow_kit import AIRFLOW_VENV, CORE_BIN, airflow_env
from support.airflow_kit import run as airflow_run
from support.ports import free_port
from support.relkit import IMDBOPS, ServerProcess, load_small_warehouse
from support.servers import STACK_AWS, STACK_PG_PASSWORD, needs_stack, shared_stack

from imdbops.pipelines.training import DAG_NAME, TASK_NAMES

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(1500), needs_stack]

AWS = STACK_AWS
PG_PASSWORD = STACK_PG_PASSWORD


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    with shared_stack(tmp_path_factory.mktemp("servers")) as stack:
        yield stack


class Machines:
    """Each call gets a new empty folder with its own HOME: a machine of its own."""

    def __init__(self, base: Path, servers: dict):
        self.base, self.servers, self.count = base, servers, 0

    def config(self, root: Path, n_trials: int = 2) -> Path:
        s = self.servers
        path = root / "imdbops.yaml"
        path.write_text(
            "paths:\n  artifacts_url: s3://imdbops/state\n"
            f"  artifacts_storage_options: {{endpoint_url: '{s['s3']}'}}\n"
            f"warehouse:\n  backend: postgres\n  host: 127.0.0.1\n  port: {s['pg_port']}\n"
            "  database: imdb\n  user: imdbops\n"
            f"lake:\n  url: s3://imdbops/lake\n  storage_options: {{endpoint_url: '{s['s3']}'}}\n"
            f"tracking:\n  uri: {s['tracking']}\n"
            f"training:\n  model: logreg\n  n_trials: {n_trials}\n  timeout_s: 30\n"
            "  bootstrap_samples: 200\n"
            "serving:\n  reload_poll_s: 3600\n"
            "monitoring:\n  prediction_log_url: s3://imdbops/predictions\n"
            f"  prediction_log_storage_options: {{endpoint_url: '{s['s3']}'}}\n"
        )
        return path

    def new(self, label: str, n_trials: int = 2) -> tuple[Path, dict[str, str]]:
        self.count += 1
        root = self.base / f"m{self.count:02d}-{label}"
        (root / "home").mkdir(parents=True)
        config = self.config(root, n_trials)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IMDBOPS_", "AWS_"))}
        env |= AWS | {
            "HOME": str(root / "home"),
            "IMDBOPS_PATHS__ROOT": str(root),
            "IMDBOPS_CONFIG": str(config),
            "IMDBOPS_WAREHOUSE_PASSWORD": PG_PASSWORD,
        }
        return root, env

    def run(self, label: str, args: list[str], n_trials: int = 2, extra_env=None, check=True):
        root, env = self.new(label, n_trials)
        out = subprocess.run(
            [IMDBOPS, *args],
            cwd=root,
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=900,
        )
        if check:
            assert out.returncode == 0, (
                f"{label}: {args}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
            )
        return out, root


def status(machines: Machines, run_id: str | None) -> dict:
    out, _ = machines.run("status", ["pipeline", "status", *([run_id] if run_id else []), "--json"])
    return json.loads(out.stdout)


def test_the_dag_across_machines_that_share_no_disk(servers, airflow_python, tmp_path):
    machines = Machines(tmp_path, servers)
    # Someone loads the warehouse server from their own machine.
    loader, env = machines.new("loader")
    load_small_warehouse(loader, env)

    # 1. Airflow: each task in a fresh folder; `register` is killed (SIGKILL) as it starts.
    scheduler, task_env = machines.new("airflow")
    env = airflow_env(
        scheduler / "airflow-home",
        IMDBOPS_CORE_VENV=str(CORE_BIN.parent),
        IMDBOPS_FAILPOINTS="task.register:kill",
        # Shared mode would work in this (missing) folder and fail: the default must be fresh.
        IMDBOPS_PROJECT_ROOT=str(scheduler / "no-shared-project"),
        **{k: v for k, v in task_env.items() if k.startswith(("IMDBOPS_", "AWS_"))},
    )
    del env["IMDBOPS_PATHS__ROOT"]  # each task gets its own folder (fresh mode)
    airflow = str(AIRFLOW_VENV / "bin" / "airflow")
    airflow_run([airflow, "db", "migrate"], env, scheduler)
    dags_test = subprocess.run(
        [airflow, "dags", "test", DAG_NAME], env=env, cwd=scheduler, capture_output=True,
        text=True, timeout=1500,
    )  # fmt: skip
    log = dags_test.stdout[-4000:] + dags_test.stderr[-4000:]
    first = status(machines, None)  # the latest run: the Airflow one
    run_id = first["run_id"]
    states = {n: t["state"] for n, t in first["tasks"].items()}
    before = TASK_NAMES[: TASK_NAMES.index("register")]
    assert all(states[n] == "succeeded" for n in before), (states, log)
    assert states["register"] != "succeeded" and states["promote"] != "succeeded", states
    # Nothing of any task stayed behind on the scheduler's machine.
    assert not (scheduler / "runs").exists() and not (scheduler / "data").exists()

    # 2. `resume` on another machine finishes the run; finished tasks are not redone.
    machines.run("resume", ["pipeline", "resume", run_id])
    resumed = status(machines, run_id)
    assert resumed["status"] == "succeeded"
    ran = {n for n, t in resumed["tasks"].items() if t["decision"] == "ran"}
    assert ran == {"register", "promote"}, resumed["tasks"]
    decision = resumed["tasks"]["promote"]["result"]
    assert decision["decision"] == "PROMOTE", decision

    # 3. Nothing changed: a whole run on a fresh machine runs no task.
    out, _ = machines.run("rerun", ["pipeline", "run", "--run-id", "again", "--explain"])
    again = status(machines, "again")
    assert {t["decision"] for t in again["tasks"].values()} == {"skipped"}, out.stdout
    # It fetched nothing, yet prints the champion question's answer from the cache records.
    assert "test split: this model vs baselines" in out.stdout and "roc_auc" in out.stdout

    # 4. The API on its own machine serves the champion from the MLflow server.
    root, env = machines.new("api")
    server = ServerProcess(root / "imdbops.yaml", free_port(), env=env).start(timeout=180)
    try:
        body = {"items": [{"title": "Heat", "genres": ["Crime", "Drama"], "year": 1995}]}
        answer = httpx.post(f"{server.url}/api/v1/predict", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        served = answer.json()["data"]["predictions"][0]
        assert served["model_version"] == str(decision["challenger_version"]), answer.json()
        # Its prediction log reaches the object store while it serves.
        deadline, parts = time.monotonic() + 60, []
        while not parts and time.monotonic() < deadline:
            time.sleep(1)
            servers["fs"].invalidate_cache()
            parts = [p for p in servers["fs"].find("imdbops/predictions") if p.endswith(".parquet")]
        assert parts, "no prediction log part reached s3://imdbops/predictions in 60 s"
    finally:
        server.stop()

    # No secret reached the shared state.
    state = "".join(
        servers["fs"].cat(p).decode(errors="replace")
        for p in servers["fs"].find("imdbops/state")
        if p.endswith(".json")
    )
    for secret in (PG_PASSWORD, AWS["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in state
