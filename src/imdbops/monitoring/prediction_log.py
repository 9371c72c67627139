"""The prediction log: every answer the API gives, buffered in memory and flushed to Parquet.

Requests only append to a list under a lock; a background thread turns the buffer into one
Parquet file per flush, so the request path never waits on disk. Layout (what the drift job
reads with ``read_parquet('<dir>/**/*.parquet', hive_partitioning=true)``)::

    <prediction_log_dir>/date=YYYY-MM-DD/part-<epoch_ms>-<uuid>.parquet

Each file is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from imdbops.atomic import atomic_path
from imdbops.config import Config
from imdbops.log import get_logger

log = get_logger("monitoring.prediction_log")

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
        ]
    )


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


class PredictionLog:
    """Buffered, thread-safe writer of prediction records (see the module docstring)."""

    def __init__(self, cfg: Config):
        self.enabled = cfg.monitoring.enabled
        self.directory = Path(cfg.monitoring.prediction_log_dir)
        self.flush_interval_s = max(0.05, float(cfg.monitoring.flush_interval_s))
        self.flush_max_records = max(1, int(cfg.monitoring.flush_max_records))
        self.records_received = 0
        self.records_written = 0
        self.files_written = 0
        self.write_errors = 0
        self.records_dropped = 0
        # While writes keep failing, keep at most this many rows (oldest dropped first), so a
        # full disk cannot turn into an out-of-memory crash of the server.
        self.max_buffered = 100 * self.flush_max_records
        self._buffer: list[Mapping[str, Any]] = []
        self._lock = threading.Lock()
        # One flush at a time, so record counts and file names never interleave.
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.enabled:
            self._thread = threading.Thread(
                target=self._run, name="prediction-log-flusher", daemon=True
            )
            self._thread.start()

    def record(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue rows (dicts with the module's columns; ``ts`` a datetime or epoch seconds)."""
        if not self.enabled:
            return
        rows = list(rows)
        with self._lock:
            self._buffer.extend(rows)
            self.records_received += len(rows)
            full = len(self._buffer) >= self.flush_max_records
        if full:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def flush(self) -> int:
        """Write everything buffered now; returns the number of records written."""
        with self._flush_lock:
            with self._lock:
                rows, self._buffer = self._buffer, []
            if not rows:
                return 0
            try:
                self._write(rows)
            except Exception as exc:  # noqa: BLE001 - keep serving; the rows are retried
                # Put the rows back so a transient disk problem does not lose them.
                with self._lock:
                    self._buffer[:0] = rows
                    excess = len(self._buffer) - self.max_buffered
                    if excess > 0:
                        del self._buffer[:excess]
                        self.records_dropped += excess
                self.write_errors += 1
                log.warning(
                    "could not write %d prediction records to %s (%s: %s); retrying at the "
                    "next flush",
                    len(rows),
                    self.directory,
                    type(exc).__name__,
                    exc,
                )
                return 0
            self.records_written += len(rows)
            return len(rows)

    def close(self) -> None:
        """Stop the background thread and flush what is left (called on app shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.enabled:
            self.flush()

    def stats(self) -> dict[str, int]:
        return {
            "records_received": self.records_received,
            "records_written": self.records_written,
            "records_pending": self.pending(),
            "files_written": self.files_written,
            "write_errors": self.write_errors,
            "records_dropped": self.records_dropped,
        }

    # ---- internals -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.flush()

    def _write(self, rows: list[Mapping[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Epoch floats (what the API records) become microseconds and a day number with
        # arithmetic; a date string is made once per day. Per-row datetime/strftime calls
        # were ~70% of this method's CPU.
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
            }
            table = pa.Table.from_pydict(columns, schema=schema)
            name = f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex}.parquet"
            target = self.directory / f"date={date}" / name
            with atomic_path(target) as tmp:
                pq.write_table(table, tmp)
            self.files_written += 1
        log.debug("wrote %d prediction records", len(rows))


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
