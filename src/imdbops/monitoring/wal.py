"""Write-ahead segments of the prediction log, so answered predictions outlive a killed server.

Every process appends each answered request's records to its own segment file with one
``write`` before the response leaves::

    <prediction_log_dir>/_wal/<host>-<pid>-<uuid>.wal

Bytes handed to the kernel survive SIGKILL, an OOM kill or a crash of the process (not a
power failure: see ``monitoring.fsync_interval_s``), so nothing is fsynced per request.

Ownership is an exclusive ``flock`` that the writer holds from the moment the segment gets
its ``.wal`` name until its Parquet part is in place and the file is deleted. The kernel
drops the lock when the process dies, so a segment another process *can* lock was left
behind by a dead one, and a live process's segments are never taken by someone else's
recovery. The lock is taken on a temporary name and kept across the rename, so no one can
ever lock a fresh, still-empty segment before its owner does.

Format: one JSON object per line, ``\\n``-terminated. A line that does not parse, and a last
line without its newline (a write cut short), are skipped with a warning naming the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from imdbops.failpoints import failpoint
from imdbops.log import get_logger
from imdbops.monitoring.log_parts import LOG_COLUMNS, sync_dir, write_parts

log = get_logger("monitoring.wal")

WAL_DIRNAME = "_wal"
SUFFIX = ".wal"
_TMP_SUFFIX = ".wal-tmp"
# Fields the Parquet writer turns into numbers (from the log's columns, so the movie record's
# numbers too): a record whose values are not numbers there is treated as corrupt, so one
# bad line can never block the conversion of a segment.
_NUMBER = (int, float)
_REQUIRED_NUMBERS = tuple(c.name for c in LOG_COLUMNS if c.number and c.required)
_OPTIONAL_NUMBERS = tuple(c.name for c in LOG_COLUMNS if c.number and not c.required)

# msgspec writes UTF-8 JSON (a raw newline inside a string is escaped, so a record is
# always one line) at ~6x the stdlib's speed on the request path; a string it cannot write
# (a lone surrogate) falls back to the stdlib's ASCII escapes. Both decode with json.loads.
_fast = msgspec.json.Encoder()
_ascii_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def wal_dir(log_dir: Path) -> Path:
    """The segment folder: inside the log folder, so it is on the same volume."""
    return Path(log_dir) / WAL_DIRNAME


def encode(row: Mapping[str, Any]) -> bytes:
    """One record as one JSON line."""
    try:
        return _fast.encode(row) + b"\n"
    except UnicodeEncodeError:
        return _ascii_encode(row).encode("ascii") + b"\n"


def encode_rows(rows: list[Mapping[str, Any]]) -> bytes:
    """Records as JSON lines, one per record (a request's records in one encoder call)."""
    try:
        return _fast.encode_lines(rows)
    except UnicodeEncodeError:
        return b"".join(map(encode, rows))


@dataclass(eq=False)
class Segment:
    path: Path
    fd: int
    records: int = 0
    synced_records: int = -1  # records covered by the last fsync (-1: the name is not synced)
    # The records this process appended, as written, so converting its own segment needs no
    # read-back and JSON decoding; None for a segment claimed from a dead process.
    rows: list[Mapping[str, Any]] | None = None

    @property
    def tag(self) -> str:
        """The segment's unique name; its Parquet parts are named after it (see module doc)."""
        return self.path.name[: -len(SUFFIX)]


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:63] or "host"


def create(directory: Path) -> Segment:
    """A new, locked, empty segment of this process."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{_host()}-{os.getpid()}-{uuid.uuid4().hex[:16]}"
    tmp = directory / f".{stem}{_TMP_SUFFIX}"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = directory / f"{stem}{SUFFIX}"
        os.rename(tmp, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return Segment(path, fd, rows=[])


def append(segment: Segment, data: bytes, lines: int) -> tuple[int, OSError | None]:
    """Append ``data`` (``lines`` JSON lines) in one ``write``; how many whole lines reached
    the file, and the error.

    A short write (a full disk) is retried for the rest; if that fails, the lines that made
    it whole count as written and the caller must stop appending to this segment.
    """
    written, error = 0, None
    try:
        written = os.write(segment.fd, data)
        while written < len(data):
            written += os.write(segment.fd, data[written:])
    except OSError as exc:
        error = exc
    if written == len(data):
        segment.records += lines
        return lines, None
    # Every record is exactly one line: a newline inside a string is written escaped.
    whole = data.count(b"\n", 0, written)
    segment.records += whole
    return whole, error or OSError(f"short write to {segment.path}")


def sync(segment: Segment) -> None:
    """fsync the segment (and, the first time, its folder entry)."""
    if segment.fd < 0 or segment.synced_records == segment.records:
        return
    os.fsync(segment.fd)
    if segment.synced_records < 0:
        sync_dir(segment.path.parent)
    segment.synced_records = segment.records


def records_of(segment: Segment) -> tuple[list[Mapping[str, Any]], int]:
    """The segment's records, from memory when this process wrote them all, else ``read``."""
    if segment.rows is not None and len(segment.rows) == segment.records:
        return segment.rows, 0
    return read(segment)


def read(segment: Segment) -> tuple[list[dict[str, Any]], int]:
    """The records of a segment and how many corrupt ones were skipped (each warned about)."""
    size = os.fstat(segment.fd).st_size
    data = os.pread(segment.fd, size, 0) if size else b""
    lines = data.split(b"\n")
    tail = lines.pop()  # what follows the last newline: empty unless a write was cut short
    rows, bad = [], 0
    for number, line in enumerate(lines, 1):
        row = _decode(line)
        if row is None:
            bad += 1
            log.warning(
                "skipped a corrupt prediction record at line %d of %s (%d bytes)",
                number,
                segment.path,
                len(line),
            )
        else:
            rows.append(row)
    if tail:
        bad += 1
        log.warning(
            "skipped a half-written last prediction record at the end of %s (%d bytes without "
            "a newline; the process died or the disk filled during the write)",
            segment.path,
            len(tail),
        )
    return rows, bad


def _decode(line: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict):
        return None
    for key in _REQUIRED_NUMBERS:
        if not isinstance(row.get(key), _NUMBER):
            return None
    for key in _OPTIONAL_NUMBERS:
        value = row.get(key)
        if value is not None and not isinstance(value, _NUMBER):
            return None
    return row


def remove(segment: Segment) -> None:
    """Delete the segment (its Parquet parts are in place), then let go of its lock."""
    with contextlib.suppress(FileNotFoundError):
        segment.path.unlink()
    release(segment)


def release(segment: Segment) -> None:
    if segment.fd >= 0:
        os.close(segment.fd)
        segment.fd = -1


def quarantine(segment: Segment) -> Path:
    """Move a segment whose records cannot be converted aside (``.bad``), out of the way."""
    target = segment.path.with_name(segment.path.name + ".bad")
    os.replace(segment.path, target)
    release(segment)
    return target


def orphans(directory: Path) -> Iterator[Segment]:
    """Segments left behind by dead processes, each locked by us until the caller is done.

    The caller converts and ``remove``s each one; whatever it leaves is released when the
    iteration moves on. Segments a live process holds are skipped.
    """
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        segment = _claim(path)
        if segment is None:
            continue
        try:
            yield segment
        finally:
            release(segment)
    # Temp names of processes killed between creating and naming a segment: always empty.
    # Only old ones, so a writer between its create and its lock is never disturbed.
    for path in directory.glob(f".*{_TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if time.time() - path.stat().st_mtime < 60:
                continue
        segment = _claim(path)
        if segment is not None:
            remove(segment)


def _claim(path: Path) -> Segment | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Converted and deleted by its owner between our open and our lock?
        same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except (BlockingIOError, FileNotFoundError):
        same = False
    if not same:
        os.close(fd)
        return None
    return Segment(path, fd)


@dataclass
class Recovery:
    """What ``recover`` converted; ``failed`` segments stay for the next attempt."""

    segments: int = 0
    records: int = 0
    corrupt: int = 0
    files: int = 0
    failed: int = 0


def recover(log_dir: Path, *, durable: bool = False) -> Recovery:
    """Convert the segments dead processes left in ``log_dir/_wal`` to Parquet, exactly once.

    Live processes' segments are locked and skipped. A crash half-way is harmless: a
    segment's parts are named after it, so the next attempt overwrites them, and the
    segment is deleted only after they are in place.
    """
    directory = Path(log_dir)
    result = Recovery()
    # closing(): a crash (an exception) mid-way still unlocks the segment in hand at once.
    with contextlib.closing(orphans(wal_dir(directory))) as claimed:
        _recover_each(claimed, directory, result, durable)
    return result


def _recover_each(claimed, directory: Path, result: Recovery, durable: bool) -> None:
    for segment in claimed:
        try:
            rows, corrupt = read(segment)
            files = write_parts(directory, rows, tag=segment.tag, durable=durable)
        except OSError as exc:  # the disk: leave it for the next attempt
            result.failed += 1
            log.warning(
                "could not recover prediction-log segment %s (%s: %s); it stays for the next "
                "attempt",
                segment.path,
                type(exc).__name__,
                exc,
            )
            continue
        except Exception as exc:  # noqa: BLE001 - the records: retrying cannot help
            result.failed += 1
            log.error(
                "prediction-log segment %s cannot be converted (%s: %s); moved to %s",
                segment.path,
                type(exc).__name__,
                exc,
                quarantine(segment),
            )
            continue
        failpoint("prediction_log.recover")
        remove(segment)
        result.segments += 1
        result.records += len(rows)
        result.corrupt += corrupt
        result.files += files
        log.info(
            "recovered %d prediction records from %s, left by a stopped process",
            len(rows),
            segment.path,
        )
