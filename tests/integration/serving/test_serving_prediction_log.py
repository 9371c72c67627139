"""The prediction log: Parquet files DuckDB can read, and nothing lost under load or on stop."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import duckdb
import httpx
from support.serving import ServerThread

from imdbops.monitoring.prediction_log import PredictionLog
from imdbops.serving.app import create_app


def _rows(n: int, version: str = "7") -> list[dict]:
    return [
        {
            "ts": time.time(),
            "request_id": f"r{i}",
            "title": f"=cmd|' /C calc'!A{i}",
            "genres": "Comedy,Drama",
            "year": 1999 if i % 2 else None,
            "runtime_minutes": None,
            "probability": 0.25,
            "label": 0,
            "model_version": version,
            "latency_ms": 1.5,
        }
        for i in range(n)
    ]


def _read(directory):
    con = duckdb.connect()
    return con.execute(
        f"select * from read_parquet('{directory}/**/*.parquet', hive_partitioning=true)"
    )


def test_flush_writes_partitioned_parquet_with_the_contract_schema(cfg):
    log = PredictionLog(cfg)
    try:
        log.record(_rows(3))
        assert log.flush() == 3
        assert log.records_written == 3
    finally:
        log.close()
    directory = cfg.monitoring.prediction_log_dir
    files = list(directory.rglob("*.parquet"))
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert len(files) == 1 and files[0].parent.name == f"date={today}"
    assert files[0].name.startswith("part-")
    assert not [p for p in directory.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    import pyarrow.parquet as pq

    schema = pq.read_schema(files[0])
    assert str(schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("label").type) == "int8"
    assert str(schema.field("year").type) == "double"
    rows = _read(directory).fetchall()
    assert len(rows) == 3
    frame = _read(directory).df()
    assert set(frame["title"]) == {f"=cmd|' /C calc'!A{i}" for i in range(3)}
    assert frame["year"].isna().sum() == 2 and str(frame["date"].iloc[0])[:10] == today


def test_timestamps_keep_microseconds_and_split_at_utc_midnight(cfg):
    midnight = datetime(2025, 11, 26, tzinfo=UTC).timestamp()
    stamps = [
        midnight - 0.000001,  # epoch seconds, the last microsecond of the 25th
        midnight + 0.123456,  # epoch seconds, just after midnight
        datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # an aware datetime
        datetime(2025, 1, 2, 3, 4, 5, 7),  # a naive datetime counts as UTC
    ]
    rows = _rows(len(stamps))
    for row, ts in zip(rows, stamps, strict=True):
        row["ts"] = ts
    log = PredictionLog(cfg)
    try:
        log.record(rows)
        assert log.flush() == 4
    finally:
        log.close()
    directory = cfg.monitoring.prediction_log_dir
    assert sorted(p.parent.name for p in directory.rglob("*.parquet")) == [
        "date=2025-01-02",
        "date=2025-11-25",
        "date=2025-11-26",
    ]
    frame = _read(directory).df()
    got = sorted(
        (ts.to_pydatetime(), str(d)[:10]) for ts, d in zip(frame["ts"], frame["date"], strict=True)
    )
    assert got == [
        (datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "2025-01-02"),
        (datetime(2025, 1, 2, 3, 4, 5, 7, tzinfo=UTC), "2025-01-02"),
        (datetime(2025, 11, 25, 23, 59, 59, 999999, tzinfo=UTC), "2025-11-25"),
        (datetime(2025, 11, 26, 0, 0, 0, 123456, tzinfo=UTC), "2025-11-26"),
    ]


def test_close_flushes_what_is_buffered_and_size_triggers_a_flush(cfg):
    cfg.monitoring.flush_interval_s = 3600.0
    cfg.monitoring.flush_max_records = 10
    log = PredictionLog(cfg)
    log.record(_rows(25))  # over the size limit: the flusher thread wakes up
    deadline = time.monotonic() + 30
    while log.records_written == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.records_written == 25
    log.record(_rows(4))  # under the limit and the interval is an hour away
    log.close()
    assert log.records_written == 29 and log.pending() == 0
    assert _read(cfg.monitoring.prediction_log_dir).fetchall().__len__() == 29


def test_disabled_log_writes_nothing(cfg):
    cfg.monitoring.enabled = False
    log = PredictionLog(cfg)
    log.record(_rows(5))
    log.close()
    assert log.records_written == 0
    assert not list(cfg.monitoring.prediction_log_dir.rglob("*.parquet"))


def test_every_prediction_under_concurrency_is_logged(champion_cfg, tmp_path):
    cfg = champion_cfg.model_copy(deep=True)
    cfg.monitoring.prediction_log_dir = tmp_path / "predictions"
    # Size-triggered flushes while running, and the rest only by the shutdown flush.
    cfg.monitoring.flush_interval_s = 3600.0
    cfg.monitoring.flush_max_records = 64
    app = create_app(cfg)
    server = ServerThread(app).start()
    sent = []
    errors = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for i in range(25):
                items = [{"title": f"T{n}-{i}-{k}", "genres": ["Drama"]} for k in range(1 + i % 3)]
                r = c.post("/api/v1/predict", json={"items": items})
                if r.status_code != 200:
                    errors.append(r.text)
                sent.extend(item["title"] for item in items)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    server.stop()
    assert not errors
    plog = app.state.serving.prediction_log
    assert plog.records_received == len(sent) == 20 * (9 * 1 + 8 * 2 + 8 * 3)
    assert plog.records_written == len(sent)
    frame = _read(cfg.monitoring.prediction_log_dir).df()
    assert sorted(frame["title"]) == sorted(sent)
    assert frame["request_id"].nunique() == 500
    assert set(frame["model_version"]) == {"1"}
    assert frame["latency_ms"].gt(0).all() and frame["probability"].between(0, 1).all()


def test_a_failing_disk_keeps_rows_until_the_cap_then_recovers(cfg):
    cfg.monitoring.flush_interval_s = 3600.0
    cfg.monitoring.flush_max_records = 1_000_000  # only explicit flushes in this test
    blocked = cfg.monitoring.prediction_log_dir
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the log folder should be")
    log = PredictionLog(cfg)
    log.max_buffered = 5
    try:
        log.record(_rows(3))
        assert log.flush() == 0 and log.write_errors == 1 and log.pending() == 3
        log.record(_rows(4))
        assert log.flush() == 0 and log.pending() == 5 and log.records_dropped == 2
        blocked.unlink()
        assert log.flush() == 5
        assert log.records_written == 5
    finally:
        log.close()
    assert len(_read(blocked).fetchall()) == 5
