"""The prediction log on S3 (issue 15): replicas ship their parts, a monitor elsewhere reads them.

Two real ``imdbops serve`` processes in separate project folders share nothing but moto's S3
server on 127.0.0.1; the S3 server goes away and comes back while one of them answers; a
third folder runs ``imdbops monitor run`` and counts every replica's predictions.
"""

from __future__ import annotations

import json
import signal
import time
import uuid

import duckdb
import httpx
import pytest
from support.ports import free_port
from support.relkit import ServerProcess, cli, write_config
from support.serving import bundled_items, register_champion

from imdbops.config import load_config
from imdbops.monitoring.drift_metrics import read_latest_summary
from imdbops.monitoring.log_ship import open_store

AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Moto:
    """moto's S3 server in this process; stopping and restarting keeps its buckets."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None

    def start(self) -> Moto:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def s3(monkeypatch):
    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    moto = Moto().start()
    yield moto
    moto.stop()


def _config(root, endpoint: str, url: str):
    root.mkdir(parents=True, exist_ok=True)
    return write_config(
        root,
        f"  prediction_log_url: {url}\n"
        f"  prediction_log_storage_options:\n    endpoint_url: {endpoint}\n",
    )


def _rows_on_store(cfg) -> int:
    """Predictions in the parts on the store (downloaded to a scratch folder and counted)."""
    store = open_store(cfg)
    store.fs.invalidate_cache()
    keys = [
        p
        for p in store.fs.find(store.root)
        if p.endswith(".parquet") and ".tmp" not in p.rsplit("/", 1)[-1]
    ]
    if not keys:
        return 0
    con = duckdb.connect()
    total = 0
    for key in keys:
        data = store.fs.cat_file(key)
        scratch = cfg.paths.root / f"count-{uuid.uuid4().hex}.parquet"
        scratch.write_bytes(data)
        total += con.execute(f"select count(*) from read_parquet('{scratch}')").fetchone()[0]
        scratch.unlink()
    return total


def _rows(n: int) -> list[dict]:
    return [
        {"ts": time.time(), "request_id": f"r{i}", "title": f"t{i}", "genres": "Drama",
         "year": 2000.0, "runtime_minutes": 90.0, "probability": 0.7, "label": 1,
         "model_version": "1", "latency_ms": 1.0}
        for i in range(n)
    ]  # fmt: skip


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _predict(server: ServerProcess, items) -> int:
    ok = 0
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for item in items:
            ok += client.post("/api/v1/predict", json={"items": [item]}).status_code == 200
    return ok


def _logged(server: ServerProcess, level: str, text: str) -> int:
    """How many of the server's JSON-lines log entries at ``level`` contain ``text``."""
    entries = [
        json.loads(line)
        for path in (server.config.parent / "logs").glob("*-serve-*.jsonl")
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    return sum(e["level"] == level and text in e["message"] for e in entries)


@pytest.mark.slow
def test_a_replica_ships_its_log_through_an_outage_and_a_monitor_elsewhere_reads_it(
    s3, tmp_path, streams
):
    bucket = f"plog-{uuid.uuid4().hex[:10]}"
    url = f"s3://{bucket}/predictions"
    config = _config(tmp_path / "replica", s3.url, url)
    config_m = _config(tmp_path / "monitor", s3.url, url)
    cfg, cfg_m = load_config(config), load_config(config_m)
    open_store(cfg).fs.mkdir(bucket)
    register_champion(cfg, streams.model, tag="a")  # already trained: only the MLflow record
    items, _ = bundled_items(60, seed=15)

    # One attempt per request: the outage is noticed in a second, not after botocore's retries.
    server = ServerProcess(config, free_port(), env={"AWS_MAX_ATTEMPTS": "1"}).start()
    try:
        assert _predict(server, items[:20]) == 20
        _wait_for(lambda: _rows_on_store(cfg) == 20, 30, "20 shipped predictions")

        # The store goes away: predictions are still answered, and one warning names it.
        s3.stop()
        assert _predict(server, items[20:60]) == 40
        warning = f"cannot ship prediction-log parts to {url}"
        _wait_for(lambda: _logged(server, "WARNING", warning) > 0, 30, "the shipping warning")
        s3.start()
        _wait_for(lambda: _rows_on_store(cfg) == 60, 60, "the parts held back by the outage")
        assert _logged(server, "WARNING", warning) == 1
        assert _logged(server, "INFO", f"{url} is reachable again") == 1
    finally:
        assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    store = open_store(cfg)
    assert not [p for p in store.fs.find(store.root) if ".tmp-" in p]

    # Another machine: nothing local, only the bucket.
    assert not cfg_m.monitoring.prediction_log_dir.exists()
    result = cli(["monitor", "run", "--reference", str(streams.profile_path)], config_m)
    assert result.returncode in (0, 3), result.stdout + result.stderr
    assert read_latest_summary(cfg_m)["window"]["n_predictions"] == 60
    local = list(cfg_m.monitoring.prediction_log_dir.rglob("*.parquet"))
    assert local and not [p for p in local if p.name.startswith(".")]


def test_monitor_fails_clearly_when_the_log_store_is_unreachable(tmp_path, monitoring_reference):
    config = _config(tmp_path, f"http://127.0.0.1:{free_port()}", "s3://nowhere/predictions")
    result = cli(
        ["monitor", "run", "--reference", str(monitoring_reference)],
        config,
        env={**AWS, "AWS_MAX_ATTEMPTS": "1"},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stdout + result.stderr
    assert "cannot fetch the prediction log from s3://nowhere/predictions" in message
    assert "monitoring.prediction_log_url" in message


@pytest.fixture(scope="module")
def monitoring_reference(streams):
    return streams.profile_path


def test_parts_written_while_the_store_was_unreachable_ship_at_the_next_start(
    s3, tmp_path, monkeypatch
):
    from imdbops.monitoring.prediction_log import PredictionLog

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    url = f"s3://plog-{uuid.uuid4().hex[:10]}/predictions"
    down = load_config(_config(tmp_path, f"http://127.0.0.1:{free_port()}", url))
    up = load_config(_config(tmp_path, s3.url, url))
    open_store(up).fs.mkdir(url.split("/")[2])
    rows = _rows(5)

    offline = PredictionLog(down)
    offline.record(rows[:3])
    offline.flush()
    offline.record(rows[3:])
    offline.close()
    assert offline.stats()["parts_shipped"] == 0
    assert offline.stats()["parts_unshipped"] == 2
    assert _rows_on_store(up) == 0

    restarted = PredictionLog(up)  # ships what it finds on start, before any new record
    restarted.close()
    assert restarted.stats()["parts_shipped"] == 2
    assert _rows_on_store(up) == 5

    again = PredictionLog(up)  # already there, same size: nothing is uploaded twice
    again.close()
    assert again.stats()["parts_shipped"] == 0
    assert again.stats()["parts_unshipped"] == 0


def test_the_monitoring_page_shows_the_local_log_when_the_store_is_unreachable(
    tmp_path, monkeypatch
):
    from imdbops.monitoring.log_parts import write_parts
    from imdbops.monitoring.traffic import traffic_summary

    for name, value in {**AWS, "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)
    cfg = load_config(_config(tmp_path, f"http://127.0.0.1:{free_port()}", "s3://nowhere/p"))
    write_parts(cfg.monitoring.prediction_log_dir, _rows(12))
    summary = traffic_summary(cfg, minutes=60)
    assert summary["total"] == 12
    assert [
        p for p in summary["problems"] if "cannot fetch the prediction log from s3://nowhere/p" in p
    ]
