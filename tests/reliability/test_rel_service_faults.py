"""Shared services failing mid-work, on the real stack: nothing is lost, the next run finishes.

PostgreSQL (warehouse and MLflow's store), moto's S3 server and `mlflow server` on
127.0.0.1 (tests/support/servers.py). Every machine talks to S3 and MLflow through a
:class:`FaultProxy`, which can pass bytes, reset every connection (a stopped server) or
forward nothing (a hung one); PostgreSQL is restarted for real. A ``pause`` failpoint stops
the command at the worst moment (mid-transaction, mid-upload, between logging a model and
registering it) while the service is broken, then lets it go on. Each test asserts what is
in the services afterwards, not only exit codes, and records a row for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from support.faultproxy import FaultProxy
from support.relkit import IMDBOPS, count_logged_predictions, write_small_dumps
from support.servers import STACK_AWS, STACK_PG_PASSWORD, needs_stack, shared_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), needs_stack]

ROWS = 400
GROUP = "multi-machine faults"
# How long the registry stays down under the running API (from the failed promote on).
OUTAGE_S = 120.0
# Short client timeouts, so a hung service shows in seconds (defaults: docs/configuration.md).
S3_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 3, "retries": {"max_attempts": 2}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    with shared_stack(base / "servers") as servers:
        s3 = FaultProxy(int(servers["s3"].rsplit(":", 1)[1]))
        mlflow = FaultProxy(int(servers["tracking"].rsplit(":", 1)[1]))
        try:
            stack = Stack(base, servers, s3, mlflow)
            write_small_dumps(base / "dumps", n=ROWS)
            stack.cli("loader", ["data", "ingest", *stack.dumps()])
            stack.cli("loader", ["warehouse", "build"])
            yield stack
        finally:
            s3.close()
            mlflow.close()


@pytest.fixture
def browser():
    """Debian's Chromium, driven by Playwright (tests/support/browser.py)."""
    from playwright.sync_api import sync_playwright
    from support.browser import launch_chromium

    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


class Stack:
    """Machines (each an empty folder with its own HOME) sharing the servers."""

    def __init__(self, base: Path, servers: dict, s3: FaultProxy, mlflow: FaultProxy):
        self.base, self.servers, self.s3, self.mlflow = base, servers, s3, mlflow
        self.pg = servers["pg"]

    def dumps(self) -> list[str]:
        d = self.base / "dumps"
        return ["--source", "imdb", "--basics", str(d / "title.basics.tsv.gz"),
                "--ratings", str(d / "title.ratings.tsv.gz")]  # fmt: skip

    def env(self, machine: str, state: str = "state", **extra: str) -> tuple[Path, dict]:
        root = self.base / machine
        (root / "home").mkdir(parents=True, exist_ok=True)
        options = json.dumps({"endpoint_url": self.s3.url, "config_kwargs": S3_TIMEOUTS})
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IMDBOPS_", "AWS_"))}
        env |= STACK_AWS | {
            "HOME": str(root / "home"),
            "IMDBOPS_PATHS__ROOT": str(root),
            "IMDBOPS_PATHS__ARTIFACTS_URL": f"s3://imdbops/{state}",
            "IMDBOPS_PATHS__ARTIFACTS_STORAGE_OPTIONS": options,
            "IMDBOPS_WAREHOUSE__BACKEND": "postgres",
            "IMDBOPS_WAREHOUSE__PORT": str(self.servers["pg_port"]),
            "IMDBOPS_WAREHOUSE__CONNECT_TIMEOUT": "3",
            "IMDBOPS_WAREHOUSE_PASSWORD": STACK_PG_PASSWORD,
            "IMDBOPS_LAKE__URL": f"s3://imdbops/{state}-lake",
            "IMDBOPS_LAKE__STORAGE_OPTIONS": options,
            "IMDBOPS_TRACKING__URI": self.mlflow.url,
            "IMDBOPS_TRACKING__MODEL_NAME": f"faults-{state}",
            "IMDBOPS_TRAINING__MODEL": "logreg",
            "IMDBOPS_TRAINING__N_TRIALS": "1",
            "IMDBOPS_TRAINING__BOOTSTRAP_SAMPLES": "50",
            # 400 rows: these tests need a champion to fault around, not a good one.
            "IMDBOPS_TRAINING__MIN_MARGIN_OVER_BASELINE": "-1",
            "IMDBOPS_FAILPOINTS_DIR": str(root),
            # A killed holder's lease is taken over 6 s after its last renewal.
            "IMDBOPS_PIPELINE__LEASE_TTL_S": "6",
            **extra,
        }
        return root, env

    def start(self, machine: str, args: list[str], state: str = "state", **extra: str):
        root, env = self.env(machine, state, **extra)
        return subprocess.Popen(
            [IMDBOPS, *args], cwd=root, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def cli(self, machine: str, args: list[str], state: str = "state", check=True, **extra):
        proc = self.start(machine, args, state, **extra)
        out, err = proc.communicate(timeout=600)
        if check:
            assert proc.returncode == 0, f"{machine} {args}:\n{out[-3000:]}\n{err[-3000:]}"
        return proc.returncode, out, err

    def psql(self, sql: str) -> str:
        return self.pg.psql(sql, database="imdb").strip()

    def fault_at(
        self,
        machine: str,
        args: list[str],
        state: str,
        point: str,
        fault,
        *,
        restore=None,
        timeout: float = 180,
        **extra: str,
    ) -> tuple[int, str, str, float]:
        """``imdbops ARGS`` on ``machine``, paused at failpoint ``point`` while ``fault()``
        breaks a service, then let go. ``restore()``, if given, mends the service once the
        command ended, whatever happened. Returns (exit code, stdout, stderr, the monotonic
        time the fault began)."""
        root, _ = self.env(machine, state)
        proc = self.start(machine, args, state, IMDBOPS_FAILPOINTS=f"{point}:pause", **extra)
        wait_hit(root, point, proc)
        at = time.monotonic()
        fault()
        go(root, point)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if restore is not None:
                restore()
            for mark in (f"{point}.hit", f"{point}.go"):  # the next pause here waits again
                (root / mark).unlink(missing_ok=True)
        return proc.returncode, out, err, at


def wait_hit(root: Path, point: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not (root / f"{point}.hit").exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"ended before failpoint {point}:\n{out[-2000:]}\n{err[-3000:]}")
        assert time.monotonic() < deadline, f"failpoint {point} never reached"
        time.sleep(0.1)


def go(root: Path, point: str) -> None:
    (root / f"{point}.go").touch()


def one_line_error(err: str) -> str:
    """The command's error: its last non-empty stderr line (no traceback before it)."""
    assert "Traceback" not in err, err[-3000:]
    return [line for line in err.splitlines() if line.strip()][-1]


def store_objects(stack: Stack, prefix: str) -> dict[str, str]:
    """Every object under ``s3://imdbops/<prefix>`` -> its ETag (the content's MD5)."""
    fs = stack.servers["fs"]
    fs.invalidate_cache()
    found = fs.find(f"imdbops/{prefix}", detail=True)
    return {k: v.get("ETag", "") for k, v in found.items()}


def test_postgres_restarted_mid_ingest_then_mid_build_loses_nothing(stack, record):
    counts = "select count(*) from raw.title_basics"
    model = "select count(*) from analytics.filtered_movies_incremental"
    fingerprint = "select body from raw.imdbops_fingerprint"
    rows_before = stack.psql(counts)
    code, out, err, started = stack.fault_at(
        "ingest", ["data", "ingest", *stack.dumps()], "state", "ingest.before_commit",
        stack.pg.restart, timeout=120,
    )  # fmt: skip
    line = one_line_error(err)
    assert code == 1 and "PostgreSQL warehouse" in line, err[-2000:]
    assert stack.psql(counts) == rows_before  # the cut transaction left nothing behind
    stack.cli("ingest", ["data", "ingest", *stack.dumps()])
    recovered = time.monotonic() - started
    assert stack.psql(counts) == rows_before == str(ROWS)
    model_rows = stack.psql(model)

    # The build after it, restarted inside dbt's transaction for the model (after one of the
    # model's statements): rolled back whole; the re-run builds the same model.
    code, _, err, started = stack.fault_at(
        "ingest", ["warehouse", "build"], "state", "warehouse.build.mid_model", stack.pg.restart
    )
    build_line = one_line_error(err)
    assert code == 1, err[-3000:]
    assert "lost the connection to the warehouse" in build_line, build_line
    assert "run `imdbops warehouse build` again" in build_line, build_line
    assert stack.psql(model) == model_rows  # nothing half-built
    stack.cli("ingest", ["warehouse", "build"])
    build_s = time.monotonic() - started
    assert stack.psql(model) == model_rows != "0"
    assert json.loads(stack.psql(fingerprint))["model_rows"] == int(model_rows)
    record(
        GROUP,
        "PostgreSQL restarted mid `warehouse build`",
        "dbt paused after a statement of the model (transaction open); `pg_ctl restart`; "
        "let it go; run the build again",
        "the build fails naming the warehouse and the command to re-run; the re-run leaves "
        "the same model rows, and the fingerprint says so",
        error=build_line[:140],
        rows=f"{model_rows}->{stack.psql(model)}",
        recover_s=round(build_s, 1),
        records_lost=0,
    )
    record(
        GROUP,
        "PostgreSQL restarted mid-ingest",
        "`data ingest` paused before COMMIT; `pg_ctl restart -m fast`; let it go; run again",
        "ingest fails naming the warehouse; the re-run loads every row once",
        error=line[:140],
        rows=f"{rows_before}->{stack.psql(counts)}",
        recover_s=round(recovered, 1),
        records_lost=ROWS - int(stack.psql(counts)),
    )


@pytest.fixture(scope="module")
def io_extract(stack) -> str:
    """`pipeline task extract --run-id io` in state "io", undisturbed: its stdout (shared)."""
    return stack.cli("io-a", ["pipeline", "task", "extract", "--run-id", "io"], "io")[1]


def test_store_hung_mid_upload_then_the_task_completes(stack, io_extract, record):
    out = io_extract
    clean = json.loads(out)  # stdout is the report alone: it pipes into jq
    if shutil.which("jq"):
        jq = subprocess.run(
            ["jq", "-r", ".outputs.extract.sha256"], input=out, capture_output=True, text=True
        )
        assert jq.returncode == 0 and jq.stdout.strip() == clean["outputs"]["extract"]["sha256"]

    code, out, err, started = stack.fault_at(
        "extract-hung", ["pipeline", "task", "extract", "--run-id", "hung"], "extract-hung",
        "store.put", stack.s3.hang, restore=stack.s3.forward,
    )  # fmt: skip
    waited = time.monotonic() - started
    line = one_line_error(err)
    assert code == 1 and "s3://imdbops/extract-hung" in line, err[-2000:]
    assert not [k for k in store_objects(stack, "extract-hung") if ".tmp-" in k]

    _, out, _ = stack.cli(
        "extract-hung", ["pipeline", "task", "extract", "--run-id", "hung"], "extract-hung"
    )
    again = json.loads(out)
    recovered = time.monotonic() - started
    sha = again["outputs"]["extract"]["sha256"]
    assert sha == clean["outputs"]["extract"]["sha256"]  # the same bytes as undisturbed
    objects = store_objects(stack, "extract-hung")
    assert any(k.endswith(f"artifacts/extract/{sha}.json") for k in objects)
    record(
        GROUP,
        "object store hangs mid-upload",
        "`pipeline task extract` paused before its artifact PUT; the S3 proxy stops "
        "forwarding; let it go; forward again; re-run the task",
        "the task fails naming the store URL after the read timeouts; the re-run uploads "
        "the same artifact (same sha256)",
        error=line[:140],
        failed_after_s=round(waited, 1),
        recover_s=round(recovered, 1),
        records_lost=0,
    )


def _versions(stack: Stack, state: str) -> list[dict]:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=stack.servers["tracking"])
    found = client.search_model_versions(f"name='faults-{state}'")
    return sorted(({"version": int(v.version), "tags": v.tags} for v in found),
                  key=lambda v: v["version"])  # fmt: skip


def _champion(stack: Stack, state: str) -> int | None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=stack.servers["tracking"])
    try:
        return int(client.get_model_version_by_alias(f"faults-{state}", "champion").version)
    except mlflow.exceptions.MlflowException:
        return None


@pytest.fixture(scope="module")
def dag_state(stack) -> str:
    """State "dag": one undisturbed `pipeline run` on machine "a" (champion version 1),
    shared by the tests below (a run costs a minute on a 2-core machine)."""
    stack.cli("a", ["pipeline", "run", "--run-id", "base"], "dag")
    return "dag"


def test_two_machines_one_store_take_turns(stack, dag_state, record):
    state = dag_state
    assert len(_versions(stack, state)) == 1 and _champion(stack, state) == 1

    # 1. Two machines start a run with a changed parameter at once: one runs, one refuses.
    changed = {"IMDBOPS_TRAINING__PARAMS": '{"C": 0.5}'}
    b = stack.start("b", ["pipeline", "run", "--run-id", "b"], state, **changed)
    c = stack.start("c", ["pipeline", "run", "--run-id", "c"], state, **changed)
    (_, b_err), (_, c_err) = b.communicate(timeout=600), c.communicate(timeout=600)
    codes = sorted([b.returncode, c.returncode])
    loser_err = c_err if c.returncode else b_err
    assert codes == [0, 1], (b_err[-2000:], c_err[-2000:])
    line = one_line_error(loser_err)
    assert "LeaseHeldError" in line and "leases/imdb_training" in line, line
    assert len(_versions(stack, state)) == 2  # one new version, not two
    stack.cli("c", ["pipeline", "run", "--run-id", "c2"], state, **changed)
    again = json.loads(stack.cli("c", ["pipeline", "status", "c2", "--json"], state)[1])
    decisions = {t["decision"] for t in again["tasks"].values()}
    assert decisions == {"skipped"}, again["tasks"]  # everything from the winner's run
    record(
        GROUP,
        "two machines, one store",
        "`pipeline run` with a changed parameter started on two machines at once",
        "one runs and registers one version; the other ends with the lease holder named; "
        "a third run finds every task cached",
        versions=len(_versions(stack, state)),
        loser=line[:120],
        records_lost=0,
    )


def test_a_killed_lease_holder_then_mlflow_down_mid_register(stack, record):
    state = "killed"
    stack.cli("a", ["pipeline", "run", "--run-id", "base"], state)
    assert len(_versions(stack, state)) == 1

    # A forced re-run killed (kill -9) inside register, holding the lease.
    code, _, err_kill = stack.cli(
        "d", ["pipeline", "run", "--force", "register", "--run-id", "forced"], state,
        check=False, IMDBOPS_FAILPOINTS="register.after_log:kill",
    )  # fmt: skip
    assert code == -9, err_kill[-3000:]
    assert len(_versions(stack, state)) == 1  # killed before the version existed
    # Resumed on another machine as soon as the lease expires, with MLflow down mid-register.
    killed_at = time.monotonic()
    code, out, err, hit_at = stack.fault_at(
        "e", ["pipeline", "resume", "forced"], state, "register.after_log", stack.mlflow.down,
        restore=stack.mlflow.forward, IMDBOPS_PIPELINE__LEASE_WAIT_S="120",
    )  # fmt: skip
    took_over_s = hit_at - killed_at
    assert code == 1, err[-3000:]
    line = one_line_error(err)
    assert "register" in err and f"127.0.0.1:{stack.mlflow.port}" in err, err[-3000:]
    assert len(_versions(stack, state)) == 1
    _, out, _ = stack.cli("f", ["pipeline", "resume", "forced", "--explain"], state)
    recovered = time.monotonic() - killed_at
    status = json.loads(stack.cli("f", ["pipeline", "status", "forced", "--json"], state)[1])
    assert status["status"] == "succeeded"
    assert status["tasks"]["register"]["decision"] == "ran"  # the force survived the kill
    versions = _versions(stack, state)
    assert len(versions) == 2 and all(v["tags"].get("artifact_sha256") for v in versions)
    assert _champion(stack, state) in {1, 2}
    record(
        GROUP,
        "worker killed holding the lease; MLflow down mid-register",
        "`pipeline run --force register` SIGKILLed in register; `pipeline resume` on "
        "another machine waits out the lease, then MLflow's proxy resets every connection "
        "between logging the model and registering it; resume again",
        "the lease is taken over after its expiry; register fails naming the tracking "
        "server; the next resume re-runs the forced register: one version, champion set",
        took_over_s=round(took_over_s, 1),
        error=line[:140],
        versions=len(versions),
        recover_s=round(recovered, 1),
        records_lost=0,
    )


def _extract_in_process(stack: Stack, monkeypatch) -> str:
    from imdbops.config import Config, env_settings
    from imdbops.dataops.extract import extract_movies

    monkeypatch.setenv("IMDBOPS_WAREHOUSE_PASSWORD", STACK_PG_PASSWORD)
    cfg = Config.model_validate(env_settings(stack.env("pgx-clean", "pgx-clean")[1]))
    return extract_movies(cfg)[1].content_hash


def _content_hash(parquet: Path) -> str:
    import pandas as pd

    from imdbops.dataops.extract import content_hash

    return content_hash(pd.read_parquet(parquet))


def test_postgres_restarted_mid_extract_the_read_is_retried(stack, record, monkeypatch):
    # Restarted between connecting and the query. A read-only query is safe to repeat, so
    # the extract retries on a fresh connection by itself.
    clean = _extract_in_process(stack, monkeypatch)  # the undisturbed extract (cheaper)
    root, _ = stack.env("pgx", "pgx")
    code, out, err, started = stack.fault_at(
        "pgx", ["pipeline", "task", "extract", "--run-id", "pgx"], "pgx",
        "extract.before_query", stack.pg.restart,
    )  # fmt: skip
    extract_s = time.monotonic() - started
    assert code == 0, err[-3000:]
    assert "PostgreSQL warehouse" in err and "runs again" in err, err[-3000:]
    report = json.loads(out)["outputs"]["extract"]
    sha, path = report["sha256"], root / report["path"]  # (an absolute path stays one)
    assert _content_hash(path) == clean  # the same movies as an undisturbed extract
    assert any(k.endswith(f"artifacts/extract/{sha}.json") for k in store_objects(stack, "pgx"))
    record(
        GROUP,
        "PostgreSQL restarted mid extract",
        "`pipeline task extract` paused between connecting and its query; `pg_ctl restart`",
        "a warning naming the warehouse, then the extract runs again on a new connection "
        "and stores the same sha256 as an undisturbed run",
        recover_s=round(extract_s, 1),
        records_lost=0,
    )


def test_store_down_or_hung_mid_download_manifest_write_and_lake_push(stack, io_extract, record):
    state = "io"
    extract_sha = json.loads(io_extract)["outputs"]["extract"]["sha256"]
    task = ["pipeline", "task", "validate_raw", "--run-id", "io"]

    # 1. Down mid-download: another machine's task reads the extract from the store.
    root, _ = stack.env("io-b", state)
    code, _, err, started = stack.fault_at(
        "io-b", task, state, "store.get", stack.s3.down, restore=stack.s3.forward
    )
    download_s = time.monotonic() - started
    download_line = one_line_error(err)
    assert code == 1 and f"s3://imdbops/{state}" in download_line, err[-3000:]
    assert f"cannot read s3://imdbops/{state}/artifacts/extract/{extract_sha}" in err
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]  # no half download

    # 2. Down at the manifest write that records the task's success (its outputs and cache
    # record are stored already): the re-run finds them and records the success. (A hung
    # store at a manifest write: test_store_hung_mid_upload_then_the_task_completes.)
    code, _, err, started = stack.fault_at(
        "io-b", task, state, "store.manifest.succeeded", stack.s3.down, restore=stack.s3.forward
    )
    manifest_s = time.monotonic() - started
    manifest_line = one_line_error(err)
    assert code == 1 and f"s3://imdbops/{state}" in manifest_line, err[-3000:]
    _, out, _ = stack.cli("io-b", task, state)
    fs = stack.servers["fs"]
    fs.invalidate_cache()
    tasks = {t: json.loads(fs.cat(f"imdbops/{state}/runs/io/tasks/{t}.json"))
             for t in ("extract", "validate_raw")}  # fmt: skip
    assert tasks["validate_raw"]["state"] in {"succeeded", "skipped"}, tasks
    assert tasks["extract"]["output_hashes"]["extract"] == extract_sha

    # 3. Down mid lake push (`load` copies the raw snapshot to the lake).
    lake = f"{state}-lake"
    load = ["pipeline", "task", "load", "--run-id", "io"]
    code, _, err, started = stack.fault_at(
        "io-b", load, state, "load.lake_put", stack.s3.down, restore=stack.s3.forward
    )
    lake_line = one_line_error(err)
    assert code == 1 and f"s3://imdbops/{state}" in lake_line, err[-3000:]
    assert f"s3://imdbops/{lake}" in err, err[-3000:]
    assert not [k for k in store_objects(stack, lake) if ".tmp-" in k]
    _, out, _ = stack.cli("io-b", load, state)
    lake_s = time.monotonic() - started
    snapshot = json.loads(out)["external"]["lake_snapshot"]["record"]
    objects = store_objects(stack, lake)
    raw = [k for k in objects if k.endswith(snapshot["key"])]
    assert len(raw) == 1 and objects[raw[0]].strip('"') == snapshot["md5"], objects
    assert not [k for k in objects if ".tmp-" in k]
    for fault, where, line, seconds in (
        ("object store down mid-download", "`pipeline task validate_raw` on another machine, "
         "paused before it downloads the extract; the S3 proxy resets every connection",
         download_line, download_s),
        ("object store down at a manifest write", "the same task, paused after its outputs "
         "and cache record are stored, before the manifest records its success; the proxy "
         "resets every connection", manifest_line, manifest_s),
        ("object store down mid lake push", "`pipeline task load`, paused after the first "
         "chunk of the raw snapshot's upload; the proxy resets every connection",
         lake_line, lake_s),
    ):  # fmt: skip
        record(
            GROUP, fault, where,
            "the task fails naming the store URL; no temporary or partial object; the "
            "re-run completes with the same artifact hashes",
            error=line[:140], failed_or_recovered_s=round(seconds, 1), records_lost=0,
        )  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(what: str, check, timeout: float = 90.0):
    """Poll ``check`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.3)


def _last_json(out: str) -> dict:
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


@pytest.mark.browser
def test_mlflow_down_mid_promote_and_under_a_running_api(stack, dag_state, record, browser):
    """One champion serves three faults: PostgreSQL in the scores publish, MLflow in
    `promote` and, for minutes, under the API (and its page), the store under the API's log
    shipping."""
    import httpx
    import mlflow
    from playwright.sync_api import expect

    state = dag_state  # after the test above: its versions and champion, whatever they are
    before = _champion(stack, state)
    assert before is not None

    # 1. PostgreSQL restarted inside the scores publish's transaction, before its COMMIT.
    table = "select count(*), count(distinct tconst) from analytics.predictions"
    score = ["score", "--warehouse", "--all", "--json"]
    code, _, err, started = stack.fault_at("a", score, state, "score.publish", stack.pg.restart)
    publish_line = one_line_error(err)
    assert code == 1 and "PostgreSQL warehouse" in publish_line, err[-3000:]
    # Nothing of the cut transaction is there (not even the table it created).
    if stack.psql("select to_regclass('analytics.predictions') is not null") == "t":
        assert stack.psql("select count(*) from analytics.predictions") == "0"
    scored = _last_json(stack.cli("a", score, state)[1])
    publish_s = time.monotonic() - started
    n, distinct = map(int, stack.psql(table).split("|"))
    assert n == distinct == scored["rows_scored"] == scored["rows_read"] > 0
    record(
        GROUP,
        "PostgreSQL restarted mid scores publish",
        "`score --warehouse` paused inside the publish transaction, before COMMIT; "
        "`pg_ctl restart`; let it go; score again",
        "the command fails naming the warehouse; the re-run scores and publishes every movie once",
        error=publish_line[:140],
        rows=n,
        recover_s=round(publish_s, 1),
        records_lost=0,
    )

    # 2. A second version (the champion's model registered again), and the API serving v1,
    # its prediction log shipped to the store through the S3 proxy.
    direct = mlflow.MlflowClient(tracking_uri=stack.servers["tracking"])
    champion = direct.get_model_version(f"faults-{state}", str(before))
    new = direct.create_model_version(
        f"faults-{state}", champion.source, run_id=champion.run_id, tags=champion.tags,
        model_id=champion.source.removeprefix("models:/"),  # MLflow 3: models:/<model id>
    ).version  # fmt: skip
    log_url = f"s3://imdbops/{state}-log"
    # Shorter still for the shipper, so the hung store shows in a second or two.
    quick = {"connect_timeout": 1, "read_timeout": 1, "retries": {"max_attempts": 1}}
    options = json.dumps({"endpoint_url": stack.s3.url, "config_kwargs": quick})
    api_root, env = stack.env(
        "s-api", state,
        IMDBOPS_SERVING__RELOAD_POLL_S="1",
        IMDBOPS_MONITORING__PREDICTION_LOG_URL=log_url,
        IMDBOPS_MONITORING__PREDICTION_LOG_STORAGE_OPTIONS=options,
    )  # fmt: skip
    port = _free_port()
    api_log = api_root / "serve.log"
    with open(api_log, "w") as log_fh:
        api = subprocess.Popen(
            [IMDBOPS, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=api_root, env=env, stdout=log_fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/v1"
    predicted = 0

    def ready() -> dict | None:
        try:
            r = httpx.get(f"{url}/ready", timeout=5)
        except httpx.HTTPError:
            return None
        return r.json()["data"] if r.status_code == 200 else None

    def predict(n: int) -> set[str]:
        nonlocal predicted
        versions = set()
        for i in range(n):
            item = {"title": f"Fault {i}", "genres": ["Drama"], "year": 2001}
            r = httpx.post(f"{url}/predict", json={"items": [item]}, timeout=10)
            assert r.status_code == 200, r.text
            versions |= {p["model_version"] for p in r.json()["data"]["predictions"]}
            predicted += 1
        return versions

    try:
        assert _until("the API is ready", ready)["model_version"] == str(before)
        assert predict(5) == {str(before)}

        # 3. MLflow goes down in `model promote 2 --force`, just before the alias moves.
        promote = ["model", "promote", str(new), "--force"]
        quick_lock = {"IMDBOPS_TRACKING__PROMOTION_LOCK_LEASE_S": "2"}
        code, _, err, down_at = stack.fault_at(
            "a", promote, state, "promote.before_alias", stack.mlflow.down, **quick_lock
        )  # the registry stays down: the API below serves through the outage
        promote_line = one_line_error(err)
        assert code == 1, err[-3000:]
        assert f"127.0.0.1:{stack.mlflow.port}" in promote_line, promote_line
        assert "champion alias was not moved" in promote_line, promote_line
        assert _champion(stack, state) == before

        # 4. The registry stays down, and the store hangs, while the API serves.
        stack.s3.hang()
        card = _until(
            "the API notices the registry is down",
            lambda: (c := httpx.get(f"{url}/model", timeout=5).json()["data"])["registry"][
                "reachable"
            ] is False and c,
        )  # fmt: skip
        assert card["version"] == str(before) and card["registry"]["error"]
        still = ready()
        assert still and still["model_version"] == str(before)
        assert not still["registry"]["reachable"]
        assert predict(20) == {str(before)}
        _until(
            "the shipper reports the hung store",
            lambda: "cannot ship prediction-log parts" in api_log.read_text(),
        )

        # The outage lasts minutes: the API polls the dead registry every second all along,
        # keeps answering and stays ready, and the page a user keeps open (Debian's Chromium,
        # refreshing its model card every 30 s) says the registry is unreachable.
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("body[data-ready='true']")
        expect(page.locator("#model-version")).to_have_text(str(before))
        expect(page.locator("#model-status")).to_contain_text("The model registry is unreachable")
        while time.monotonic() - down_at < OUTAGE_S:
            assert predict(1) == {str(before)}
            still = ready()
            assert still and still["model_version"] == str(before)
            assert not still["registry"]["reachable"]
            time.sleep(0.5)
        expect(page.locator("#model-status")).to_contain_text(
            f"Serving champion version {before}. The model registry is unreachable since"
        )
        outage_s = time.monotonic() - down_at

        # 5. Both come back: the promotion runs again, the API swaps, the log ships.
        stack.s3.forward()
        stack.mlflow.forward()
        stack.cli("a", promote, state, **quick_lock)
        assert _champion(stack, state) == int(new)
        _until("the API swaps", lambda: (r := ready()) and r["model_version"] == str(new))
        swapped_s = time.monotonic() - down_at
        assert ready()["registry"]["reachable"] is True
        assert predict(5) == {str(new)}
        page.reload()
        page.wait_for_selector("body[data-ready='true']")
        expect(page.locator("#model-version")).to_have_text(str(new))
        expect(page.locator("#model-status")).to_have_text("Serving the champion model.")
        # The shipper retries on its own backoff (at most every 30 s after a long outage).
        _until(
            "the shipper ships again",
            lambda: "is reachable again" in " ".join(api_log.read_text().split()),
            timeout=120,
        )
    finally:
        stack.s3.forward()
        stack.mlflow.forward()
        api.terminate()  # a clean stop: the last parts are flushed and shipped
        api.wait(timeout=60)
    assert api.returncode in (0, -15), api_log.read_text()[-3000:]  # SIGTERM: a clean stop

    fs = stack.servers["fs"]
    fs.invalidate_cache()
    parts = [p for p in fs.find(f"imdbops/{state}-log") if p.endswith(".parquet")]
    assert not [p for p in fs.find(f"imdbops/{state}-log") if ".tmp-" in p]
    shipped = api_root / "shipped"
    for part in parts:
        fs.get(part, str(shipped / part.split(f"{state}-log/", 1)[1]))
    assert count_logged_predictions(shipped) == predicted  # every prediction, once
    for fault, where, seen, seconds, extra in (
        ("MLflow server down mid `promote`", "`model promote N --force` paused just before "
         "the champion alias moves; the MLflow proxy resets every connection",
         "promote fails naming the tracking server: the alias was not moved; run again once "
         "it answers (its lock lapses after `tracking.promotion_lock_lease_s`)",
         swapped_s, {"error": promote_line[:140]}),
        ("MLflow server down under a running API (store hung too)", "the same outage seen "
         "by `imdbops serve` polling the alias every 1 s, for two minutes; the S3 proxy also "
         "stops forwarding",
         "/ready stays 200 and predictions go on with the old champion; /model and the page "
         "(Chromium) say the registry is unreachable; the log waits on local disk; once both return the "
         "API swaps to the new version and ships every record",
         swapped_s, {"outage_s": round(outage_s, 1), "predictions": predicted}),
    ):  # fmt: skip
        record(GROUP, fault, where, seen, recover_s=round(seconds, 1), records_lost=0, **extra)
