"""Parquet parts of the prediction log: the schema, and rows to one file per UTC day.

Layout (what the drift job reads with
``read_parquet('<dir>/**/*.parquet', hive_partitioning=true)``)::

    <prediction_log_dir>/date=YYYY-MM-DD/part-<epoch_ms>-<segment or uuid>.parquet

Each file is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from imdbops.atomic import atomic_path
from imdbops.log import get_logger

log = get_logger("monitoring.prediction_log")

# The layout's names, for everything that lists the log (readers, shipping, retention).
DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
PART_FILE = re.compile(r"^part-(\d+)-[^/]*\.parquet$")


def is_part(name: str) -> bool:
    """A finished part (never a temporary file on its way to that name)."""
    return bool(PART_FILE.match(name)) and ".tmp" not in name


COLUMNS = (
    "ts",
    "request_id",
    "title",
    "genres",
    "year",
    "runtime_minutes",
    "probability",
    "label",
    "model_version",
    "latency_ms",
    "tconst",
    "role",
)


def log_schema():
    """The prediction log's Parquet schema (the monitoring job reads exactly this)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("ts", pa.timestamp("us", tz="UTC")),
            ("request_id", pa.string()),
            ("title", pa.string()),
            ("genres", pa.string()),
            ("year", pa.float64()),
            ("runtime_minutes", pa.float64()),
            ("probability", pa.float64()),
            ("label", pa.int8()),
            ("model_version", pa.string()),
            ("latency_ms", pa.float64()),
            # IMDb id when the request sent one (null otherwise); older files lack the column.
            ("tconst", pa.string()),
            # "canary" or "shadow" (docs/shadow.md); null: the champion answered. Older files
            # lack the column.
            ("role", pa.string()),
        ]
    )


def _as_float(value: Any) -> float | None:
    # NaN means "not given" too: stored as null, as a recovered segment has it (its JSON
    # line carries null), so Parquet never holds NaN for a missing year or runtime.
    if value is None:
        return None
    number = float(value)
    return None if number != number else number


def write_parts(
    directory: Path,
    rows: list[Mapping[str, Any]],
    *,
    tag: str | None = None,
    durable: bool = False,
) -> int:
    """Write ``rows`` as one Parquet part per UTC day; returns the number of files.

    With ``tag`` (a segment's name) each part is ``part-<newest row's epoch_ms>-<tag>``, the
    same name every time the same rows are written; without, ``part-<now_ms>-<uuid>``.
    ``durable`` fsyncs each part and its folder before returning.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Epoch floats (what the API records) become microseconds and a day number with
    # arithmetic; a date string is made once per day. Per-row datetime/strftime calls
    # were ~70% of this function's CPU.
    days: dict[int, str] = {}
    by_date: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for row in rows:
        us = _epoch_micros(row["ts"])
        day = us // 86_400_000_000
        date = days.get(day)
        if date is None:
            date = days[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        by_date.setdefault(date, []).append((us, row))
    schema = log_schema()
    for date, part in by_date.items():
        columns = {
            "ts": pa.array([us for us, _ in part], pa.int64()).cast(schema.field("ts").type),
            "request_id": [str(r.get("request_id", "")) for _, r in part],
            "title": [str(r.get("title", "")) for _, r in part],
            "genres": [_genres_text(r.get("genres")) for _, r in part],
            "year": [_as_float(r.get("year")) for _, r in part],
            "runtime_minutes": [_as_float(r.get("runtime_minutes")) for _, r in part],
            "probability": [float(r["probability"]) for _, r in part],
            "label": [int(r["label"]) for _, r in part],
            "model_version": [str(r.get("model_version", "")) for _, r in part],
            "latency_ms": [float(r.get("latency_ms", 0.0)) for _, r in part],
            "tconst": [r.get("tconst") or None for _, r in part],
            "role": [r.get("role") for _, r in part],
        }
        table = pa.Table.from_pydict(columns, schema=schema)
        if tag is None:
            name = f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex}.parquet"
        else:
            name = f"part-{max(us for us, _ in part) // 1000}-{tag}.parquet"
        target = directory / f"date={date}" / name
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)
            if durable:
                _fsync_file(tmp)
        if durable:
            sync_dir(target.parent)
    log.debug("wrote %d prediction records", len(rows))
    return len(by_date)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(directory: Path) -> None:
    """fsync a folder, so the names created in it survive a power failure."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def with_epoch_ts(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """The row with ``ts`` as epoch seconds (exact to the microsecond as a float64)."""
    ts = row["ts"]
    if type(ts) is float:
        return row
    return {**row, "ts": _epoch_micros(ts) / 1_000_000}


def _epoch_micros(ts: datetime | float) -> int:
    """Microseconds since the epoch of a datetime (naive means UTC) or epoch seconds."""
    if not isinstance(ts, datetime):
        return round(float(ts) * 1_000_000)
    delta = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _genres_text(genres: Any) -> str:
    if genres is None:
        return ""
    if isinstance(genres, str):
        return genres
    return ",".join(str(g) for g in genres)
