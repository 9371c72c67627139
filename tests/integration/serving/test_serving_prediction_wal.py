"""The prediction log's write-ahead segments: what a killed process answered is recovered once.

These tests kill real processes with SIGKILL; the whole-server versions (``imdbops serve``
killed and restarted) are in ``test_serving_prediction_log_kill.py``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from imdbops.failpoints import InjectedFault
from imdbops.monitoring import wal
from imdbops.monitoring.prediction_log import PredictionLog, recover_segments

# A child process that logs ROWS records in BATCHES record() calls, then SIGKILLs itself
# (nothing is ever converted: the flush interval is an hour).
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from imdbops.config import load_config
    from imdbops.monitoring.prediction_log import PredictionLog
    root, rows, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cfg = load_config(paths={"root": root},
                      monitoring={"flush_interval_s": 3600, "flush_max_records": 10**9})
    log = PredictionLog(cfg)
    for b in range(batches):
        log.record({"ts": time.time(), "request_id": f"req-{b}", "title": f"T{b}-{i}",
                    "genres": "Drama", "year": 1999.0, "runtime_minutes": None,
                    "probability": 0.75, "label": 1, "model_version": "3",
                    "latency_ms": 1.0} for i in range(rows))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _killed_writer(cfg, rows: int, batches: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(cfg.paths.root), str(rows), str(batches)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def _logged(cfg) -> list[tuple]:
    files = list(cfg.monitoring.prediction_log_dir.rglob("*.parquet"))
    if not files:
        return []
    return (
        duckdb.connect()
        .execute(
            f"select request_id, title, probability, label, model_version from read_parquet("
            f"'{cfg.monitoring.prediction_log_dir}/**/*.parquet', hive_partitioning=true)"
        )
        .fetchall()
    )


def _segments(cfg) -> list:
    return sorted(wal.wal_dir(cfg.monitoring.prediction_log_dir).glob("*.wal"))


def _row(i: int) -> dict:
    return {
        "ts": time.time(),
        "request_id": f"live-{i}",
        "title": f"L{i}",
        "genres": ["Comedy"],
        "year": None,
        "runtime_minutes": 90.0,
        "probability": 0.1,
        "label": 0,
        "model_version": "1",
        "latency_ms": 2.0,
    }


def test_records_of_a_killed_process_are_recovered_exactly_once(cfg):
    _killed_writer(cfg, rows=3, batches=40)
    assert len(_segments(cfg)) == 1 and _logged(cfg) == []
    result = recover_segments(cfg)
    assert (result.segments, result.records, result.corrupt, result.failed) == (1, 120, 0, 0)
    logged = _logged(cfg)
    assert len(logged) == 120
    assert sorted(r[1] for r in logged) == sorted(f"T{b}-{i}" for b in range(40) for i in range(3))
    assert {r[2:] for r in logged} == {(0.75, 1, "3")}
    assert _segments(cfg) == []
    assert recover_segments(cfg).records == 0  # nothing left to recover twice
    assert len(_logged(cfg)) == 120


def test_a_half_written_last_record_is_skipped_with_a_warning_naming_the_file(cfg, caplog):
    _killed_writer(cfg, rows=1, batches=10)
    [segment] = _segments(cfg)
    with open(segment, "ab") as fh:  # a write the process did not finish
        fh.write(b'{"ts":1764201600.5,"request_id":"torn","title":"Half a rec')
    with caplog.at_level(logging.WARNING, logger="imdbops"):
        result = recover_segments(cfg)
    assert (result.records, result.corrupt) == (10, 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(segment) in m and "half-written" in m for m in warnings), warnings
    assert sorted(r[0] for r in _logged(cfg)) == sorted(f"req-{b}" for b in range(10))


def test_a_corrupt_line_inside_a_segment_costs_only_that_record(cfg, caplog):
    _killed_writer(cfg, rows=1, batches=5)
    [segment] = _segments(cfg)
    lines = segment.read_bytes().split(b"\n")
    lines[2] = b"\x00" * 40  # e.g. a block of zeros after a power failure
    segment.write_bytes(b"\n".join(lines))
    with caplog.at_level(logging.WARNING, logger="imdbops"):
        result = recover_segments(cfg)
    assert (result.records, result.corrupt) == (4, 1)
    assert any(
        "line 3" in r.getMessage() and str(segment) in r.getMessage() for r in caplog.records
    )


def test_a_crash_between_the_parquet_part_and_the_segment_delete_adds_no_duplicates(
    cfg, monkeypatch
):
    _killed_writer(cfg, rows=2, batches=25)
    monkeypatch.setenv("IMDBOPS_FAILPOINTS", "prediction_log.recover:raise")
    with pytest.raises(InjectedFault):
        recover_segments(cfg)
    # The state a crash leaves: the part is in place and the segment is still there.
    assert len(_logged(cfg)) == 50 and len(_segments(cfg)) == 1
    monkeypatch.delenv("IMDBOPS_FAILPOINTS")
    assert recover_segments(cfg).records == 50
    logged = _logged(cfg)
    assert len(logged) == 50 and len({r[1] for r in logged}) == 50
    assert _segments(cfg) == []


def test_a_live_log_keeps_its_segments_from_another_recovery(cfg):
    cfg.monitoring.flush_interval_s = 3600.0
    cfg.monitoring.flush_max_records = 10**9
    live = PredictionLog(cfg)
    try:
        live.record([_row(i) for i in range(7)])
        assert len(_segments(cfg)) == 1
        # Another process (or worker) starting up, or `imdbops monitor run`: hands off.
        assert recover_segments(cfg).segments == 0
        assert _logged(cfg) == [] and len(_segments(cfg)) == 1
        assert live.pending() == 7
    finally:
        live.close()
    assert len(_logged(cfg)) == 7 and _segments(cfg) == []
    assert live.records_written == 7 and live.pending() == 0


def test_a_new_log_recovers_what_a_killed_one_left_in_its_thread(cfg):
    _killed_writer(cfg, rows=5, batches=4)
    log = PredictionLog(cfg)
    try:
        deadline = time.monotonic() + 30
        while log.segments_recovered == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        log.record([_row(0)])
    finally:
        log.close()
    assert (log.segments_recovered, log.records_recovered, log.records_written) == (1, 20, 1)
    assert len(_logged(cfg)) == 21
    assert log.stats()["records_recovered"] == 20


def test_fsync_interval_syncs_the_open_segment(cfg):
    cfg.monitoring.flush_interval_s = 3600.0
    cfg.monitoring.fsync_interval_s = 0.05
    log = PredictionLog(cfg)
    try:
        log.record([_row(i) for i in range(3)])
        segment = log._segment
        deadline = time.monotonic() + 30
        while segment.synced_records != 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert segment.synced_records == 3
    finally:
        log.close()
    assert len(_logged(cfg)) == 3


def test_fsync_interval_must_be_positive(tmp_path):
    from imdbops.config import ConfigError, load_config

    with pytest.raises((ConfigError, ValueError), match="fsync_interval_s"):
        load_config(paths={"root": tmp_path}, monitoring={"fsync_interval_s": 0})


def test_without_write_ahead_nothing_goes_to_segments(cfg):
    cfg.monitoring.write_ahead = False
    log = PredictionLog(cfg)
    log.record([_row(i) for i in range(4)])
    assert not wal.wal_dir(cfg.monitoring.prediction_log_dir).exists()
    log.close()
    assert len(_logged(cfg)) == 4


def test_a_segment_that_cannot_become_parquet_is_moved_aside_not_retried_forever(cfg, caplog):
    _killed_writer(cfg, rows=1, batches=3)
    [segment] = _segments(cfg)
    with open(segment, "ab") as fh:  # parses, but no int8 label can hold it
        fh.write(b'{"ts":1764201600.5,"probability":0.5,"label":1e300}\n')
    with caplog.at_level(logging.ERROR, logger="imdbops"):
        result = recover_segments(cfg)
    assert (result.segments, result.failed) == (0, 1)
    assert _segments(cfg) == [] and segment.with_name(segment.name + ".bad").exists()
    assert any(str(segment) in r.getMessage() for r in caplog.records)
    assert recover_segments(cfg).failed == 0  # not tried again at the next start


def test_a_live_segment_becomes_parquet_from_memory_without_reading_it_back(cfg, monkeypatch):
    """The request path's records are kept with the segment, so the flusher never re-reads
    and re-decodes its own file; the file is still what a recovery would read."""
    cfg.monitoring.flush_interval_s = 3600
    log = PredictionLog(cfg)
    rows = [_row(i) for i in range(5)]
    rows[2]["title"] = 'Amélie\u2028 \u4e2d\n"q"'  # UTF-8, a line separator, a newline
    log.record(rows)
    [segment] = _segments(cfg)
    on_disk = [json.loads(line) for line in segment.read_bytes().splitlines()]
    assert [r["title"] for r in on_disk] == [r["title"] for r in rows]

    def no_read_back(segment):
        raise AssertionError(f"{segment.path} was read back")

    monkeypatch.setattr(wal, "read", no_read_back)
    assert log.flush() == 5
    assert sorted(r[1] for r in _logged(cfg)) == sorted(r["title"] for r in rows)
    log.close()


def test_a_title_msgspec_cannot_write_falls_back_to_ascii_escapes():
    row = {"ts": 1.5, "title": "lone \udc80 surrogate", "probability": 0.5, "label": 1}
    line = wal.encode(row)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and line.isascii()
    assert json.loads(line) == row
    assert wal.encode({**row, "title": "plain é"}) == (
        b'{"ts":1.5,"title":"plain \xc3\xa9","probability":0.5,"label":1}\n'
    )


def test_a_short_write_counts_only_the_whole_lines_that_reached_the_file(cfg, monkeypatch):
    import errno

    segment = wal.create(wal.wal_dir(cfg.monitoring.prediction_log_dir))
    rows = [_row(i) for i in range(3)]
    data = wal.encode_rows(rows)
    cut = data.index(b"\n") + 5  # one whole line and a piece of the next
    real_write = os.write
    calls = []

    def full_disk(fd, chunk):
        calls.append(len(chunk))
        if len(calls) == 1:
            return real_write(fd, chunk[:cut])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wal.os, "write", full_disk)
    done, error = wal.append(segment, data, len(rows))
    assert (done, segment.records) == (1, 1) and error is not None and error.errno == errno.ENOSPC
    monkeypatch.setattr(wal.os, "write", real_write)
    read_back, corrupt = wal.read(segment)  # the torn second line is skipped, not misread
    assert [r["title"] for r in read_back] == ["L0"] and corrupt == 1
    wal.remove(segment)


def test_a_missing_year_is_null_in_parquet_whether_converted_live_or_recovered(cfg):
    cfg.monitoring.flush_interval_s = 3600
    log = PredictionLog(cfg)
    row = {**_row(0), "year": float("nan"), "runtime_minutes": None}
    log.record([row])
    assert json.loads(_segments(cfg)[0].read_bytes())["year"] is None  # what recovery reads
    log.flush()
    log.close()
    year, runtime = (
        duckdb.connect()
        .execute(
            f"select year, runtime_minutes from read_parquet("
            f"'{cfg.monitoring.prediction_log_dir}/**/*.parquet', hive_partitioning=true)"
        )
        .fetchone()
    )
    assert year is None and runtime is None
