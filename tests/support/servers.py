"""Real servers on 127.0.0.1 for tests: moto's S3 server and ``mlflow server``.

Each runs in its own session (``start_new_session``) so stopping it also stops the workers
it forked. PostgreSQL lives in tests/support/pg_server.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.ports import free_port

BIN = Path(sys.executable).parent

# Tests that start PostgreSQL + S3 + an MLflow server: minutes on a busy 2-core machine, so
# opt-in for a plain `make test` on a laptop. Under CI they always run (`.ci/run` and the
# GitHub workflow also set RUN_STACK_TESTS=1), so the real stack is exercised on every landing.
needs_stack = pytest.mark.skipif(
    os.environ.get("RUN_STACK_TESTS") != "1" and not os.environ.get("CI"),
    reason="slow, needs PostgreSQL: set RUN_STACK_TESTS=1 (CI always runs it)",
)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"{url}: the server exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a server started in its own session, with the workers it forked."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers that outlived their parent


@contextlib.contextmanager
def moto_s3(log_dir: Path) -> Iterator[str]:
    """moto's S3 server; yields its endpoint URL (any key/secret is accepted)."""
    port = free_port()
    log = log_dir / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", proc, log, timeout=30)
        yield url
    finally:
        stop_group(proc)


@contextlib.contextmanager
def mlflow_server(
    args: list[str], env: dict[str, str], cwd: Path, *, port: int, timeout: float = 300
) -> Iterator[str]:
    """``mlflow server ARGS`` (args carry --host/--port); yields its URL once /health answers.

    MLflow 3 starts a job-execution consumer (huey) with its own worker processes beside a
    server on a database; nothing here submits jobs, so it is off (seven fewer processes on
    a 2-core CI machine)."""
    log = cwd / "mlflow.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(BIN / "mlflow"), "server", *args],
            env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            cwd=cwd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc, log, timeout=timeout)
        yield url
    finally:
        stop_group(proc)


STACK_AWS = {
    "AWS_ACCESS_KEY_ID": "stack-key",
    "AWS_SECRET_ACCESS_KEY": "stack-secret-value",
    "AWS_DEFAULT_REGION": "us-east-1",
}
STACK_PG_PASSWORD = "stack-pg-secret"


@contextlib.contextmanager
def shared_stack(root: Path) -> Iterator[dict]:
    """What machines that share no disk share: PostgreSQL (databases ``imdb`` for the
    warehouse and ``mlflow``), moto's S3 (buckets ``imdbops`` and ``mlflow``) and ``mlflow
    server`` on PostgreSQL with its artifacts on S3. Yields ``pg_port``, ``s3`` (endpoint),
    ``tracking`` (URL), ``fs`` (an s3fs filesystem) and ``env`` (the IMDBOPS_* settings and
    credentials a worker needs, paths left to each worker)."""
    from support.pg_server import running_postgres

    root.mkdir(parents=True, exist_ok=True)
    with (
        running_postgres("imdbops", STACK_PG_PASSWORD, ("mlflow", "imdb")) as pg,
        moto_s3(root) as s3,
    ):
        import s3fs

        aws = STACK_AWS
        fs = s3fs.S3FileSystem(
            key=aws["AWS_ACCESS_KEY_ID"], secret=aws["AWS_SECRET_ACCESS_KEY"], endpoint_url=s3
        )
        for bucket in ("mlflow", "imdbops"):
            fs.mkdir(bucket)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
        env |= aws | {"MLFLOW_S3_ENDPOINT_URL": s3}
        port = free_port()
        args = [
            f"--backend-store-uri=postgresql+psycopg://imdbops:{STACK_PG_PASSWORD}"
            f"@127.0.0.1:{pg.port}/mlflow",
            "--artifacts-destination=s3://mlflow/artifacts",
            "--serve-artifacts",
            "--host=127.0.0.1",
            f"--port={port}",
            "--workers=1",
        ]
        with mlflow_server(args, env, root, port=port) as tracking:
            options = f'{{"endpoint_url": "{s3}"}}'
            settings = {
                "IMDBOPS_PATHS__ARTIFACTS_URL": "s3://imdbops/state",
                "IMDBOPS_PATHS__ARTIFACTS_STORAGE_OPTIONS": options,
                "IMDBOPS_WAREHOUSE__BACKEND": "postgres",
                "IMDBOPS_WAREHOUSE__HOST": "127.0.0.1",
                "IMDBOPS_WAREHOUSE__PORT": str(pg.port),
                "IMDBOPS_WAREHOUSE__DATABASE": "imdb",
                "IMDBOPS_WAREHOUSE__USER": "imdbops",
                "IMDBOPS_WAREHOUSE_PASSWORD": STACK_PG_PASSWORD,
                "IMDBOPS_LAKE__URL": "s3://imdbops/lake",
                "IMDBOPS_LAKE__STORAGE_OPTIONS": options,
                "IMDBOPS_TRACKING__URI": tracking,
                "IMDBOPS_MONITORING__PREDICTION_LOG_URL": "s3://imdbops/predictions",
                "IMDBOPS_MONITORING__PREDICTION_LOG_STORAGE_OPTIONS": options,
                **aws,
            }
            yield {
                "pg_port": pg.port,
                "pg": pg,  # the PgServer, for tests that restart it
                "s3": s3,
                "tracking": tracking,
                "fs": fs,
                "env": settings,
            }
