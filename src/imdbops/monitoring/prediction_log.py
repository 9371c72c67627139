"""The prediction log: every answer the API gives, written ahead to a segment file, then to Parquet.

The request path appends its records to this process's write-ahead segment with one
``write`` (``monitoring/wal.py``), so an answered prediction is on disk before the response
leaves and survives a killed server. A background thread closes the segment every
``monitoring.flush_interval_s`` (or at ``flush_max_records``), turns it into Parquet and only
then deletes it. Layout (what the drift job reads with
``read_parquet('<dir>/**/*.parquet', hive_partitioning=true)``)::

    <prediction_log_dir>/date=YYYY-MM-DD/part-<epoch_ms>-<segment>.parquet
    <prediction_log_dir>/_wal/<host>-<pid>-<uuid>.wal        (segments not yet converted)

A segment's parts are named after it (``<epoch_ms>`` is its newest record), so converting
the same segment twice (a crash between writing the part and deleting the segment) rewrites
the same files instead of adding duplicates. On start, and every minute, the thread also
converts segments left by dead processes (``recover_segments``, which ``imdbops monitor run``
calls too). Rows that could not be written ahead (a broken disk, or
``monitoring.write_ahead: false``) wait in memory, as before, and go to
``part-<epoch_ms>-<uuid>.parquet``. Every Parquet file is written to a temporary name and
renamed, so a reader never sees half a file. With ``monitoring.prediction_log_url`` set, a
second thread uploads every part to that object store (``monitoring/log_ship.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from imdbops.config import Config
from imdbops.failpoints import failpoint
from imdbops.log import get_logger
from imdbops.monitoring import log_retention, log_ship, wal
from imdbops.monitoring.log_parts import COLUMNS, log_schema, with_epoch_ts, write_parts

__all__ = ["COLUMNS", "PredictionLog", "log_schema", "recover_segments"]

log = get_logger("monitoring.prediction_log")

# How often a running server looks for segments of dead processes (other workers/replicas).
RESCAN_S = 60.0


class PredictionLog:
    """Thread-safe writer of prediction records (see the module docstring)."""

    def __init__(self, cfg: Config):
        mon = cfg.monitoring
        self.cfg = cfg
        self.enabled = mon.enabled
        self.directory = Path(mon.prediction_log_dir)
        self.wal_directory = wal.wal_dir(self.directory)
        self.write_ahead = bool(mon.write_ahead)
        self.fsync_interval_s = mon.fsync_interval_s
        self.flush_interval_s = max(0.05, float(mon.flush_interval_s))
        self.flush_max_records = max(1, int(mon.flush_max_records))
        self.records_received = 0
        self.records_written = 0
        self.files_written = 0
        self.write_errors = 0
        self.records_dropped = 0
        self.wal_errors = 0
        self.records_recovered = 0
        self.segments_recovered = 0
        self.records_corrupt = 0
        self.days_pruned = 0
        # Rows not in any segment, kept for at most this many (oldest dropped first) while
        # writes keep failing, so a full disk cannot turn into an out-of-memory crash.
        self.max_buffered = 100 * self.flush_max_records
        self._buffer: list[Mapping[str, Any]] = []
        self._segment: wal.Segment | None = None  # the one the request path appends to
        self._closed: list[wal.Segment] = []  # waiting for their Parquet parts, oldest first
        self._wal_retry_at = 0.0
        self._lock = threading.Lock()
        # One flush at a time, so record counts and file names never interleave.
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shipper: log_ship.Shipper | None = None
        if self.enabled and log_ship.log_url(cfg):
            self._shipper = log_ship.Shipper(cfg, self.directory, self.flush_interval_s)
        if self.enabled:
            self._thread = threading.Thread(
                target=self._run, name="prediction-log-flusher", daemon=True
            )
            self._thread.start()

    def record(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Log rows (dicts with the module's columns; ``ts`` a datetime or epoch seconds).

        With the write-ahead log on, the rows are in this process's segment file when this
        returns (one ``write``); the caller answers the request after that.
        """
        if not self.enabled:
            return
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return
        data = None
        if self.write_ahead:
            rows = [with_epoch_ts(row) for row in rows]
            data = wal.encode_rows(rows)
        with self._lock:
            self.records_received += len(rows)
            done = 0
            if data is not None:
                segment = self._segment or self._open_segment()
                if segment is not None:
                    done, error = wal.append(segment, data, len(rows))
                    if segment.rows is not None:
                        segment.rows.extend(rows[:done])
                    if error is not None:
                        self._append_failed(segment, error)
            if done < len(rows):
                self._buffer.extend(rows[done:])
            current = self._segment.records if self._segment else 0
            full = max(current, len(self._buffer)) >= self.flush_max_records
        if full:
            self._wake.set()

    def pending(self) -> int:
        """Records received but not yet in Parquet (in segments or in memory)."""
        with self._lock:
            in_segments = sum(s.records for s in self._closed)
            if self._segment is not None:
                in_segments += self._segment.records
            return in_segments + len(self._buffer)

    def flush(self) -> int:
        """Write everything logged so far to Parquet now; returns the number of records."""
        with self._flush_lock:
            with self._lock:
                self._rotate()
                closed = list(self._closed)
                rows, self._buffer = self._buffer, []
            written = 0
            for segment in closed:
                try:
                    written += self._convert(segment)
                except Exception as exc:  # noqa: BLE001 - keep serving; retried next flush
                    self._conversion_failed(segment, exc)
                    if isinstance(exc, OSError):
                        break  # the disk: later segments would fail the same way
            if rows:
                written += self._write_buffered(rows)
            if written and self._shipper is not None:
                self._shipper.poke()
            return written

    def close(self) -> None:
        """Stop the background thread and write out what is left (called on app shutdown).

        Segments that still cannot be written stay on disk for the next start to recover.
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if not self.enabled:
            return
        self.flush()
        with self._flush_lock, self._lock:
            for segment in (*self._closed, *filter(None, [self._segment])):
                wal.release(segment)
            if self._segment is not None and self._segment.records == 0:
                wal.remove(self._segment)
            self._segment = None
            self._closed = []
        if self._shipper is not None:
            self._shipper.close()

    def stats(self) -> dict[str, int]:
        return {
            "records_received": self.records_received,
            "records_written": self.records_written,
            "records_pending": self.pending(),
            "files_written": self.files_written,
            "write_errors": self.write_errors,
            "records_dropped": self.records_dropped,
            "wal_errors": self.wal_errors,
            "records_recovered": self.records_recovered,
            "segments_recovered": self.segments_recovered,
            "records_corrupt": self.records_corrupt,
            "days_pruned": self.days_pruned,
            **(
                {
                    "parts_shipped": self._shipper.parts_shipped,
                    "parts_unshipped": self._shipper.unshipped(),
                }
                if self._shipper is not None
                else {}
            ),
        }

    # ---- the write-ahead segments (call with self._lock held) -----------------------
    def _open_segment(self) -> wal.Segment | None:
        if time.monotonic() < self._wal_retry_at:
            return None
        try:
            self._segment = wal.create(self.wal_directory)
        except OSError as exc:
            self._wal_retry_at = time.monotonic() + self.flush_interval_s
            self.wal_errors += 1
            log.warning(
                "cannot create a prediction-log segment in %s (%s: %s); keeping records in "
                "memory until it can (they are lost if the server is killed meanwhile)",
                self.wal_directory,
                type(exc).__name__,
                exc,
            )
            return None
        return self._segment

    def _append_failed(self, segment: wal.Segment, error: OSError) -> None:
        # The segment may end in a torn record now: never append after it.
        self.wal_errors += 1
        self._wal_retry_at = time.monotonic() + self.flush_interval_s
        self._rotate()
        log.warning(
            "cannot append to prediction-log segment %s (%s); keeping records in memory",
            segment.path,
            error,
        )

    def _rotate(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        if segment.records:
            self._closed.append(segment)
        else:
            wal.remove(segment)

    # ---- conversion to Parquet ------------------------------------------------------
    def _convert(self, segment: wal.Segment) -> int:
        rows, corrupt = wal.records_of(segment)
        self.files_written += write_parts(
            self.directory, rows, tag=segment.tag, durable=self.fsync_interval_s is not None
        )
        failpoint("prediction_log.convert")
        with self._lock:
            self._closed.remove(segment)
            wal.remove(segment)
            self.records_written += len(rows)
            self.records_corrupt += corrupt
        return len(rows)

    def _conversion_failed(self, segment: wal.Segment, exc: Exception) -> None:
        self.write_errors += 1
        if isinstance(exc, OSError):
            log.warning(
                "could not write the prediction records of %s to %s (%s: %s); retrying at "
                "the next flush",
                segment.path,
                self.directory,
                type(exc).__name__,
                exc,
            )
            return
        # Not the disk: the records themselves cannot be converted. Retrying would block
        # every later segment, so move this one aside for a person to look at.
        with self._lock:
            self._closed.remove(segment)
            self.records_dropped += segment.records
            target = wal.quarantine(segment)
        log.error(
            "prediction-log segment %s cannot be converted (%s: %s); moved to %s",
            segment.path,
            type(exc).__name__,
            exc,
            target,
        )

    def _write_buffered(self, rows: list[Mapping[str, Any]]) -> int:
        try:
            self.files_written += write_parts(self.directory, rows)
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
                "could not write %d prediction records to %s (%s: %s); retrying at the next flush",
                len(rows),
                self.directory,
                type(exc).__name__,
                exc,
            )
            return 0
        self.records_written += len(rows)
        return len(rows)

    # ---- the background thread ------------------------------------------------------
    def _run(self) -> None:
        self._safely(self._recover)
        self._safely(self._prune)
        now = time.monotonic()
        next_flush, next_scan = now + self.flush_interval_s, now + RESCAN_S
        next_sync = now + (self.fsync_interval_s or float("inf"))
        while not self._stop.is_set():
            woke = self._wake.wait(max(0.0, min(next_flush, next_sync) - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                break
            now = time.monotonic()
            if now >= next_sync:
                self._safely(self._sync)
                next_sync = now + self.fsync_interval_s
            if woke or now >= next_flush:
                self._safely(self.flush)
                next_flush = now + self.flush_interval_s
            if now >= next_scan:
                self._safely(self._recover)
                self._safely(self._prune)
                next_scan = now + RESCAN_S

    def _safely(self, step) -> None:
        try:
            step()
        except Exception:  # noqa: BLE001 - the thread must outlive any one failure
            log.exception("prediction log: %s failed", getattr(step, "__name__", step))

    def _sync(self) -> None:
        # Under the flush lock: a segment being synced is never deleted (fd closed) meanwhile.
        with self._flush_lock:
            with self._lock:
                segments = [*self._closed, *filter(None, [self._segment])]
            for segment in segments:
                wal.sync(segment)

    def _prune(self) -> None:
        self.days_pruned += log_retention.prune(self.cfg).days

    def _recover(self) -> None:
        result = wal.recover(self.directory, durable=self.fsync_interval_s is not None)
        self.segments_recovered += result.segments
        self.records_recovered += result.records
        self.records_corrupt += result.corrupt
        self.files_written += result.files


def recover_segments(cfg: Config, *, durable: bool = False) -> wal.Recovery:
    """Convert segments that dead processes left behind (``imdbops monitor run`` calls this)."""
    return wal.recover(cfg.monitoring.prediction_log_dir, durable=durable)
