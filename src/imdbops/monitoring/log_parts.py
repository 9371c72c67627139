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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from imdbops.atomic import atomic_path
from imdbops.log import get_logger
from imdbops.movies import MOVIE_FIELDS, MovieField

log = get_logger("monitoring.prediction_log")

# The layout's names, for everything that lists the log (readers, shipping, retention).
DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
PART_FILE = re.compile(r"^part-(\d+)-[^/]*\.parquet$")


def is_part(name: str) -> bool:
    """A finished part (never a temporary file on its way to that name)."""
    return bool(PART_FILE.match(name)) and ".tmp" not in name


@dataclass(frozen=True)
class LogColumn:
    """One column of the prediction log: its Parquet type and how a recorded value is stored.

    ``number``/``required`` are what the WAL reader checks before a record may be written:
    a required number must be there, an optional one may be null.
    """

    name: str
    arrow_type: str  # a pyarrow type factory: "string", "float64", "int8" ("ts" is special)
    store: Callable[[Any], Any]
    number: bool = False
    required: bool = False


def _as_float(value: Any) -> float | None:
    # NaN means "not given" too: stored as null, as a recovered segment has it (its JSON
    # line carries null), so Parquet never holds NaN for a missing year or runtime.
    if value is None:
        return None
    number = float(value)
    return None if number != number else number


def _genres_text(genres: Any) -> str:
    if genres is None:
        return ""
    if isinstance(genres, str):
        return genres
    return ",".join(str(g) for g in genres)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _optional_text(value: Any) -> str | None:
    return str(value) if value else None


def _movie_column(field: MovieField) -> LogColumn:
    """A movie-record field in the log: text as text (genres comma-separated, IMDb order),
    numbers as float64 with null when unknown, optional text null when not sent."""
    if field.numeric:
        return LogColumn(field.name, "float64", _as_float, number=True)
    if field.kind == "genres":
        return LogColumn(field.name, "string", _genres_text)
    return LogColumn(field.name, "string", _text if field.required else _optional_text)


# The log's columns in file order: the request's, the movie record's (each field, derived),
# then the answer's. A field added to the record is logged with no change here; a new answer
# column (another score, ...) is one more LogColumn in ANSWER_COLUMNS.
REQUEST_COLUMNS: tuple[LogColumn, ...] = (
    LogColumn("ts", "ts", float, number=True, required=True),
    LogColumn("request_id", "string", _text),
)
MOVIE_COLUMNS: tuple[LogColumn, ...] = tuple(_movie_column(f) for f in MOVIE_FIELDS)
ANSWER_COLUMNS: tuple[LogColumn, ...] = (
    LogColumn("probability", "float64", float, number=True, required=True),
    LogColumn("label", "int8", int, number=True, required=True),
    LogColumn("model_version", "string", _text),
    LogColumn("latency_ms", "float64", lambda v: float(v or 0.0), number=True),
    # "canary" or "shadow" (docs/shadow.md); null: the champion answered.
    LogColumn("role", "string", _optional_text),
)
LOG_COLUMNS: tuple[LogColumn, ...] = REQUEST_COLUMNS + MOVIE_COLUMNS + ANSWER_COLUMNS
COLUMNS: tuple[str, ...] = tuple(c.name for c in LOG_COLUMNS)


def log_schema():
    """The prediction log's Parquet schema (the monitoring job reads exactly this).

    Files written before a column existed lack it (readers use ``union_by_name``).
    """
    import pyarrow as pa

    def arrow(column: LogColumn):
        if column.arrow_type == "ts":
            return pa.timestamp("us", tz="UTC")
        return getattr(pa, column.arrow_type)()

    return pa.schema([(c.name, arrow(c)) for c in LOG_COLUMNS])


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
        ts_type = schema.field("ts").type
        columns = {"ts": pa.array([us for us, _ in part], pa.int64()).cast(ts_type)}
        for column in LOG_COLUMNS[1:]:
            store, name = column.store, column.name
            columns[name] = [store(r.get(name)) for _, r in part]
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
