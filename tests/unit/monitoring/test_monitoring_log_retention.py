"""monitoring.log_retention_days: old day partitions go, unshipped ones wait for the store."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from imdbops.config import ConfigError, load_config
from imdbops.monitoring.log_parts import write_parts
from imdbops.monitoring.log_retention import cutoff_day, prune

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def _config(tmp_path, **monitoring):
    return load_config(paths={"root": tmp_path}, monitoring=monitoring)


def _row(days_ago: int, i: int = 0) -> dict:
    return {"ts": (TODAY - timedelta(days=days_ago)).timestamp() + i, "request_id": f"r{i}",
            "title": "t", "genres": "Drama", "probability": 0.7, "label": 1,
            "model_version": "1", "latency_ms": 1.0}  # fmt: skip


def _write_days(cfg, days_ago: list[int]) -> None:
    for d in days_ago:
        write_parts(cfg.monitoring.prediction_log_dir, [_row(d)], tag=f"seg{d}")


def _days(cfg) -> list[int]:
    """How many days old each day partition on disk is, newest first."""
    root = cfg.monitoring.prediction_log_dir
    today = TODAY.date()
    found = [
        (today - datetime.strptime(p.name[5:], "%Y-%m-%d").date()).days
        for p in root.iterdir()
        if p.name.startswith("date=")
    ]
    return sorted(found)


def test_unset_keeps_everything(tmp_path):
    cfg = _config(tmp_path)
    _write_days(cfg, [0, 40, 400])
    assert cutoff_day(cfg) is None
    assert prune(cfg).days == 0
    assert _days(cfg) == [0, 40, 400]


def test_days_older_than_the_retention_are_removed_and_nothing_else(tmp_path):
    cfg = _config(tmp_path, log_retention_days=2)
    _write_days(cfg, [0, 1, 2, 3, 9])
    root = cfg.monitoring.prediction_log_dir
    (root / "_wal").mkdir()
    (root / "_wal" / "host-1-abc.wal").write_bytes(b"{}\n")
    (root / "notes.txt").write_text("not the log's")

    result = prune(cfg, today=TODAY.date())
    assert (result.days, result.files, result.kept) == (2, 2, 0)
    assert _days(cfg) == [0, 1, 2]
    assert (root / "_wal" / "host-1-abc.wal").exists() and (root / "notes.txt").exists()
    assert prune(cfg, today=TODAY.date()).days == 0  # nothing left to do


def test_with_a_store_an_old_day_waits_until_every_part_is_shipped(tmp_path):
    store_dir = tmp_path / "store"
    cfg = _config(tmp_path / "replica", log_retention_days=1, prediction_log_url=str(store_dir))
    _write_days(cfg, [0, 5, 6])
    root = cfg.monitoring.prediction_log_dir
    # Day 5 is fully shipped; day 6 has one part on the store and one not (yet).
    for d in (5, 6):
        day = (TODAY - timedelta(days=d)).strftime("date=%Y-%m-%d")
        shutil.copytree(root / day, store_dir / day)
    write_parts(root, [_row(6, i=1)], tag="late")

    result = prune(cfg, today=TODAY.date())
    assert (result.days, result.kept) == (1, 1)
    assert _days(cfg) == [0, 6]

    day6 = (TODAY - timedelta(days=6)).strftime("date=%Y-%m-%d")
    late = next(p for p in (root / day6).iterdir() if "late" in p.name)
    (store_dir / day6 / late.name).write_bytes(b"half")  # same name, wrong size: not shipped
    assert prune(cfg, today=TODAY.date()).kept == 1
    shutil.copy(late, store_dir / day6 / late.name)
    assert prune(cfg, today=TODAY.date()).days == 1
    assert _days(cfg) == [0]
    assert len(list(store_dir.rglob("part-*.parquet"))) == 3  # the store keeps every part


def test_readers_prune_and_never_fetch_past_days_back(tmp_path):
    from imdbops.monitoring.window import list_log_files

    store_dir = tmp_path / "store"
    writer = _config(tmp_path / "server", prediction_log_url=str(store_dir))
    _write_days(writer, [0, 1, 30])
    shutil.copytree(writer.monitoring.prediction_log_dir, store_dir)

    monitor = _config(tmp_path / "monitor", log_retention_days=7,
                      prediction_log_url=str(store_dir))  # fmt: skip
    files = list_log_files(monitor)
    assert len(files) == 2 and _days(monitor) == [0, 1]
    # A stale copy of the old day (a monitor run before retention was set) is removed.
    old = (TODAY - timedelta(days=30)).strftime("date=%Y-%m-%d")
    shutil.copytree(store_dir / old, monitor.monitoring.prediction_log_dir / old)
    assert len(list_log_files(monitor)) == 2 and _days(monitor) == [0, 1]


def test_a_server_prunes_on_start(tmp_path):
    from imdbops.monitoring.prediction_log import PredictionLog

    cfg = _config(tmp_path, log_retention_days=3, flush_interval_s=0.05)
    _write_days(cfg, [0, 4, 5])
    plog = PredictionLog(cfg)
    plog.record([_row(0, i=7)])
    plog.close()
    assert plog.stats()["days_pruned"] == 2
    assert _days(cfg) == [0]
    assert sum(1 for _ in cfg.monitoring.prediction_log_dir.rglob("part-*.parquet")) == 2


@pytest.mark.parametrize("bad", [0, -3, "soon"])
def test_a_bad_retention_is_refused_by_name(tmp_path, bad):
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, log_retention_days=bad)
    message = str(err.value)
    assert "monitoring.log_retention_days" in message and "\n" not in message


def test_an_unreadable_store_keeps_the_old_days(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cfg = _config(tmp_path / "p", log_retention_days=1, prediction_log_url=f"{blocker}/store")
    _write_days(cfg, [0, 3])
    result = prune(cfg, today=TODAY.date())
    assert (result.days, result.kept) == (0, 1)
    assert _days(cfg) == [0, 3]
    assert os.path.isfile(blocker)


def test_a_shipper_forgets_settled_days_and_still_ships_a_late_part(tmp_path):
    # A part a second for months must not grow the shipper's memory: once a day before
    # yesterday has nothing waiting, its names go and only its folder's mtime is kept.
    from imdbops.monitoring.log_ship import Shipper

    store_dir = tmp_path / "store"
    cfg = _config(tmp_path / "server", prediction_log_url=str(store_dir))
    root = cfg.monitoring.prediction_log_dir
    for i in range(12):
        write_parts(root, [_row(3, i)], tag=f"old{i}")
    write_parts(root, [_row(0)], tag="today")

    shipper = Shipper(cfg, root, interval_s=3600)
    shipper.close()
    assert shipper.parts_shipped == 13
    old = (TODAY - timedelta(days=3)).strftime("date=%Y-%m-%d")
    assert list(shipper._settled) == [old]
    assert all(not key.startswith(old) for key in shipper._shipped)
    assert len(shipper._shipped) == 1

    # A restart finds everything on the store (one listing per busy day): nothing re-sent.
    again = Shipper(cfg, root, interval_s=3600)
    again.close()
    assert again.parts_shipped == 0 and again.unshipped() == 0

    # A segment recovered late writes into the settled day: its folder changed, so the new
    # part is found and shipped, and the old ones are not sent again.
    late = Shipper(cfg, root, interval_s=0.05)
    try:
        _wait(lambda: late._settled, "the old day to settle")
        write_parts(root, [_row(3, 99)], tag="recovered")
        late.poke()
        _wait(lambda: late.parts_shipped == 1, "the late part to ship")
    finally:
        late.close()
    assert late.parts_shipped == 1
    assert len(list((store_dir / old).glob("part-*.parquet"))) == 13


def _wait(predicate, what: str, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
