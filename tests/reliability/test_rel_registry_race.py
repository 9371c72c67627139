"""Two promotions at once end with exactly one champion and both decisions recorded.

On one machine (the embedded store, a file lock) and across machines (two processes sharing
nothing but one MLflow server on PostgreSQL with S3 artifacts: the lock is in the server).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from support.pg_server import running_postgres
from support.ports import free_port
from support.relkit import IMDBOPS, write_config
from support.servers import mlflow_server, moto_s3

from imdbops.config import load_config
from imdbops.dataops.bundled import read_bundled_movies, to_imdb_tables
from imdbops.mlops.models import get_spec
from imdbops.mlops.registry import (
    alias_version,
    delete_alias,
    get_client,
    log_model_version,
    set_alias,
)
from imdbops.mlops.split import load_split, split_file
from imdbops.mlops.transform import transform_movies
from imdbops.pipelines.contract import folder

TAGS = {
    "data_md5": "0" * 32,
    "git_commit": "race",
    "trained_at": "2026-01-01T00:00:00Z",
    "model_kind": "test",
}


def _splits(cfg):
    basics, ratings = to_imdb_tables(read_bundled_movies().sample(n=4000, random_state=1))
    raw = basics.merge(ratings, on="tconst")
    raw["genres"] = raw["genres"].fillna("")
    processed = cfg.paths.processed_dir / "movies.parquet"
    processed.parent.mkdir(parents=True, exist_ok=True)
    transform_movies(raw).to_parquet(processed)
    out = folder("splits", cfg.paths.processed_dir / "splits")
    meta = split_file(cfg, processed, out)
    return out, meta


def _register(cfg, splits, meta, name: str, params: dict, rows: int | None = None) -> str:
    _, X, y = load_split(splits, "train")
    if rows:
        X, y = X.iloc[:rows], y[:rows]
    model = get_spec(name).build(params, 0).fit(X, y)
    info = log_model_version(
        cfg,
        model,
        metrics={},
        params=params,
        tags={**TAGS, "split_md5": meta["split_md5"]},
        input_example=X.head(3),
    )
    return info.version


def test_concurrent_promotions_leave_one_champion(tmp_path, record):
    config = write_config(tmp_path)
    cfg = load_config(config)
    splits, meta = _splits(cfg)
    weak = _register(cfg, splits, meta, "logreg", {}, rows=60)
    set_alias(cfg, weak, "champion")
    a = _register(cfg, splits, meta, "logreg", {"C": 1.0})
    b = _register(cfg, splits, meta, "logreg", {"C": 4.0})

    env = {**os.environ, "IMDBOPS_CONFIG": str(config)}
    procs = [
        subprocess.Popen(
            [IMDBOPS, "model", "promote", v, "--splits-dir", str(splits)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (a, b)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    # exit 1 is a REJECT (e.g. the second challenger regressed the new champion): a decision
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode in (0, 1) and "decision written" in out, (out, err)

    client = get_client(cfg)
    decisions = []
    for version in (a, b):
        mv = client.get_model_version(cfg.tracking.model_name, version)
        files = client.list_artifacts(mv.run_id, "promotion")
        assert len(files) == 1, f"version {version} must have exactly one decision recorded"
        local = client.download_artifacts(mv.run_id, files[0].path, str(tmp_path))
        decisions.append(json.loads(open(local).read()))
    decisions.sort(key=lambda d: d["decided_at"])
    first, second = decisions
    champion = alias_version(cfg)
    promoted = [d["challenger_version"] for d in decisions if d["decision"] == "PROMOTE"]
    # The lock serialises the two: the second saw the champion the first left behind.
    expected_seen = first["challenger_version"] if first["decision"] == "PROMOTE" else weak
    record(
        "registry",
        "two promotions at once",
        f"v{a} and v{b} promoted by two `imdbops model promote` processes started together; "
        f"champion was v{weak}",
        f"one champion (v{champion}); decisions {first['decision']} then {second['decision']}",
        decisions=len(decisions),
        champion=champion,
    )
    assert second["champion_version"] == expected_seen
    assert champion == (promoted[-1] if promoted else weak)
    assert pd.Series([d["challenger_version"] for d in decisions]).is_unique


# ---- across machines: two workers sharing nothing but one MLflow server ----------------------

ROUNDS = 8
# A worker: its own working directory, HOME and config; it promotes the version named on each
# stdin line the moment the line arrives and prints the decision as one JSON line.
WORKER = """
import json, sys
from imdbops.config import load_config
from imdbops.mlops.promote import promote_version
from imdbops.pipelines.contract import folder
cfg = load_config(sys.argv[1])
print("ready", flush=True)
for line in sys.stdin:
    decision = promote_version(cfg, line.strip(), folder("splits", sys.argv[2]))
    print(json.dumps(decision, default=str), flush=True)
"""


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """`mlflow server` on PostgreSQL with its artifacts proxied to a moto S3 bucket."""
    if os.environ.get("RUN_STACK_TESTS") != "1":
        pytest.skip("slow, needs PostgreSQL: set RUN_STACK_TESTS=1 (.ci/run does)")
    root = tmp_path_factory.mktemp("tracking-server")
    aws = {"AWS_ACCESS_KEY_ID": "race-key", "AWS_SECRET_ACCESS_KEY": "race-secret"}
    with running_postgres("mlflow", "race-pg", ("mlflow",)) as pg, moto_s3(root) as s3:
        import s3fs

        s3fs.S3FileSystem(
            key=aws["AWS_ACCESS_KEY_ID"], secret=aws["AWS_SECRET_ACCESS_KEY"], endpoint_url=s3
        ).mkdir("mlflow")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
        env |= aws | {"AWS_DEFAULT_REGION": "us-east-1", "MLFLOW_S3_ENDPOINT_URL": s3}
        port = free_port()
        args = [
            f"--backend-store-uri=postgresql+psycopg://mlflow:race-pg@127.0.0.1:{pg.port}/mlflow",
            "--artifacts-destination=s3://mlflow/artifacts",
            "--serve-artifacts",
            "--host=127.0.0.1",
            f"--port={port}",
            # One process is enough for a real race: uvicorn serves requests concurrently, and
            # the lock is a database constraint. (A second worker flaps on a busy 2-core VM:
            # uvicorn restarts a worker that is slow to answer its ping while importing.)
            "--workers=1",
        ]
        with mlflow_server(args, env, root, port=port) as url:
            yield url


def _worker(root: Path, server: str, splits: os.PathLike) -> tuple[subprocess.Popen, Path]:
    root.mkdir()
    (root / "home").mkdir()
    own_splits = shutil.copytree(splits, root / "splits")
    config = write_config(root, f"tracking:\n  uri: {server}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMDBOPS_", "AWS_"))}
    env |= {"HOME": str(root / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(config), str(own_splits)],
        cwd=root,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(root / "stderr.log", "w"),  # noqa: SIM115 - lives as long as the worker
        text=True,
    )
    return proc, root


def _reply(proc: subprocess.Popen, root: Path) -> str:
    line = proc.stdout.readline()
    assert line, f"the worker died:\n{(root / 'stderr.log').read_text()[-3000:]}"
    return line


# 8 rounds of two promotions through a real server: ~1.5 min on a quiet 2-core VM, ~4 on a
# busy one; the suite's default 600 s timeout is too tight for the latter.
@pytest.mark.timeout(1800)
def test_promotions_from_two_machines_serialise_through_the_server(
    tmp_path, tracking_server, record, monkeypatch
):
    # What deploy/compose.yaml gives the app: room for a server proxying artifacts to S3.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    (tmp_path / "lead").mkdir()
    config = write_config(tmp_path / "lead", f"tracking:\n  uri: {tracking_server}\n")
    cfg = load_config(config)
    splits, meta = _splits(cfg)
    weak = _register(cfg, splits, meta, "logreg", {}, rows=60)
    a = _register(cfg, splits, meta, "logreg", {"C": 1.0})
    b = _register(cfg, splits, meta, "logreg", {"C": 4.0})
    client = get_client(cfg)
    name = cfg.tracking.model_name

    workers = [_worker(tmp_path / f"machine-{i}", tracking_server, splits) for i in (1, 2)]
    try:
        for proc, root in workers:
            assert _reply(proc, root).strip() == "ready"
        wrong: list[str] = []
        outcomes: dict[str, int] = {}
        for n in range(ROUNDS):
            # The same starting point every round: the weak champion, no challenger.
            set_alias(cfg, weak, "champion")
            with contextlib.suppress(Exception):
                delete_alias(cfg, "challenger")
            client.set_registered_model_tag(name, "champion_history", json.dumps([weak]))
            order = (a, b) if n % 2 == 0 else (b, a)
            for (proc, _), version in zip(workers, order, strict=True):
                proc.stdin.write(version + "\n")  # both start at once
            for proc, _ in workers:
                proc.stdin.flush()
            decisions = [json.loads(_reply(proc, root)) for proc, root in workers]
            decisions.sort(key=lambda d: d["decided_at"])
            first, second = decisions
            champion = alias_version(cfg)
            promoted = [d["challenger_version"] for d in decisions if d["decision"] == "PROMOTE"]
            expected_seen = first["challenger_version"] if first["decision"] == "PROMOTE" else weak
            key = f"{first['decision']}+{second['decision']}"
            outcomes[key] = outcomes.get(key, 0) + 1
            if first["champion_version"] != weak or second["champion_version"] != expected_seen:
                wrong.append(f"round {n}: the second decided against a stale champion {key}")
            if champion != (promoted[-1] if promoted else weak):
                wrong.append(f"round {n}: champion v{champion} after {key}")
            for d in decisions:  # recorded on the version, where `model history` reads it
                tags = client.get_model_version(name, d["challenger_version"]).tags
                if tags.get("promotion_at") != d["decided_at"]:
                    wrong.append(f"round {n}: the decision on v{d['challenger_version']} is lost")
            with contextlib.suppress(Exception):
                client.get_registered_model(name + ".promotion-lock")
                wrong.append(f"round {n}: the promotion lock was left behind")
    finally:
        for proc, _ in workers:
            proc.stdin.close()
            proc.wait(timeout=60)
    # Every decision is also a JSON artifact on its challenger's run, on the S3 store.
    for version in (a, b):
        files = client.list_artifacts(client.get_model_version(name, version).run_id, "promotion")
        assert len(files) == ROUNDS, f"v{version}: {len(files)} decisions recorded, not {ROUNDS}"
    record(
        "registry",
        "two promotions from two machines",
        f"{ROUNDS} rounds: v{a} and v{b} promoted at the same moment by two processes with "
        "separate working dirs and HOMEs against one MLflow server (PostgreSQL, S3 artifacts)",
        f"{ROUNDS - len(wrong)}/{ROUNDS} rounds right: one champion, both decisions recorded, "
        f"the second saw the first's champion ({', '.join(f'{k} x{v}' for k, v in outcomes.items())})",
        rounds=ROUNDS,
        wrong=len(wrong),
    )
    assert not wrong, wrong
