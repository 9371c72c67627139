"""The compose stack's MLflow service, run for real without Docker.

PostgreSQL (Debian's server), an S3 endpoint (moto's server, standing in for MinIO) and
`mlflow server` are started with exactly the command and environment deploy/compose.yaml
gives them; only host names and ports are mapped to loopback. Then the `buckets` one-shot's
script creates the buckets, a client logs a run with an artifact through the server, and the
artifact must land in the S3 bucket: the proxied-artifact setup the app relies on. Last, the
app with the compose `api` environment registers a champion there and loads it back.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import SYS_PATH_PREAMBLE
from support.pg_server import PG_BIN, running_postgres
from support.ports import free_port
from support.servers import moto_s3, needs_stack, stop_group, wait_http

# ~1 minute on a quiet 2-core machine, several on a busy one (PostgreSQL migrations, MLflow
# imports in three processes).
pytestmark = [pytest.mark.slow, needs_stack]


SECRETS = {
    "POSTGRES_PASSWORD": "pg-stack-test",
    "AWS_ACCESS_KEY_ID": "stack-test-key",
    "AWS_SECRET_ACCESS_KEY": "stack-test-secret",
    "IMDBOPS_ADMIN_TOKEN": "admin-stack-test",
    "GRAFANA_ADMIN_PASSWORD": "grafana-stack-test",
    # One worker: each imports all of MLflow, which is slow on a busy 2-core machine.
    "MLFLOW_WORKERS": "1",
}
START_TIMEOUT_S = 300


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster with the compose file's user, database and password."""
    if not (PG_BIN / "initdb").exists():
        # RUN_STACK_TESTS=1 asked for the real stack: a missing part fails, never skips.
        pytest.fail(f"no PostgreSQL server at {PG_BIN}: apt-get install postgresql")
    if importlib.util.find_spec("psycopg") is None:
        pytest.fail("the MLflow server needs psycopg: pip install -e '.[dev]'")
    with running_postgres("mlflow", SECRETS["POSTGRES_PASSWORD"], ("mlflow",)) as server:
        yield server.port


@pytest.fixture
def s3(tmp_path):
    with moto_s3(tmp_path) as url:
        yield url


def _to_loopback(value: str, ports: dict[str, str]) -> str:
    for name, target in ports.items():
        value = value.replace(name, target)
    return value


def test_compose_mlflow_service_tracks_to_postgres_and_s3(checks, compose, postgres, s3, tmp_path):
    mlflow_port = free_port()
    mapping = {
        "postgres:5432": f"127.0.0.1:{postgres}",
        "http://minio:9000": s3,
        ":5000": f":{mlflow_port}",
        "--port=5000": f"--port={mlflow_port}",
        "--host=0.0.0.0": "--host=127.0.0.1",
    }
    rendered = checks.interpolate_tree(compose, SECRETS)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}

    # The one-shot `buckets` service, as compose runs it.
    buckets = rendered["services"]["buckets"]
    env = base_env | {k: _to_loopback(str(v), mapping) for k, v in buckets["environment"].items()}
    script = _to_loopback(buckets["command"][0], mapping)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "bucket ready: mlflow" in out.stdout

    # The tracking server, as compose runs it.
    service = rendered["services"]["mlflow"]
    env = base_env | {k: _to_loopback(str(v), mapping) for k, v in service["environment"].items()}
    args = [_to_loopback(a, mapping) for a in service["command"]]
    entrypoint = ["mlflow", "server"]  # deploy/mlflow/Dockerfile's ENTRYPOINT
    assert '"mlflow", "server"' in (checks.DEPLOY / "mlflow" / "Dockerfile").read_text()
    log = tmp_path / "mlflow.log"
    with open(log, "wb") as fh:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / entrypoint[0]), *entrypoint[1:], *args],
            env=env,
            cwd=tmp_path,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{mlflow_port}"
    try:
        wait_http(f"{url}/health", server, log, timeout=START_TIMEOUT_S)
        client_env = {k: v for k, v in base_env.items() if not k.startswith("IMDBOPS_")}
        # The client needs no S3 credentials: the server proxies artifacts.
        client = f"""
import mlflow, pathlib, tempfile
mlflow.set_tracking_uri({url!r})
mlflow.set_experiment("stack-test")
with mlflow.start_run() as run:
    mlflow.log_metric("roc_auc", 0.75)
    mlflow.log_text("hello from the stack test", "notes/hello.txt")
got = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="notes/hello.txt",
                                         dst_path=tempfile.mkdtemp())
print(pathlib.Path(got).read_text())
print(mlflow.get_run(run.info.run_id).info.artifact_uri)
"""
        out = subprocess.run(
            [sys.executable, "-c", client],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-3000:] + log.read_text()[-3000:]
        assert "hello from the stack test" in out.stdout
        assert "mlflow-artifacts:" in out.stdout  # proxied, not a direct s3:// URI

        # The artifact is in the S3 bucket, under the compose file's destination.
        import s3fs

        fs = s3fs.S3FileSystem(
            key=SECRETS["AWS_ACCESS_KEY_ID"],
            secret=SECRETS["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=s3,
        )
        found = fs.glob("mlflow/artifacts/**/notes/hello.txt")
        assert len(found) == 1, fs.find("mlflow")
        # Runs live in PostgreSQL, not in a local SQLite file.
        assert not list(tmp_path.glob("*.db"))

        # The app, configured by the compose `api` environment, registers a champion through
        # this server and loads it back hash-verified: what `imdbops serve` does at start.
        api_env = rendered["services"]["api"]["environment"]
        app_env = base_env | {k: _to_loopback(str(v), mapping) for k, v in api_env.items()}
        app_env["IMDBOPS_TRACKING__URI"] = url  # compose: http://mlflow:5000
        app_env["IMDBOPS_PATHS__ROOT"] = str(tmp_path / "app")
        app = (
            SYS_PATH_PREAMBLE
            + """
from imdbops.config import load_config
from imdbops.mlops.registry import load_champion
from support.serving import EXAMPLE_ITEMS, register_champion
from imdbops.mlops.transform import to_model_frame
cfg = load_config()
version = register_champion(cfg)
loaded = load_champion(cfg)
proba = loaded.model.predict_proba(to_model_frame(EXAMPLE_ITEMS))[:, 1]
print("champion", version, loaded.version, len(proba))
"""
        )
        out = subprocess.run(
            [sys.executable, "-c", app],
            env=app_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:] + log.read_text()[-3000:]
        assert "champion 1 1 3" in out.stdout, out.stdout
        assert fs.glob("mlflow/artifacts/**/model.skops") or fs.glob("mlflow/artifacts/**/MLmodel")
    finally:
        stop_group(server)
