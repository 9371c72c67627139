"""The one clock the product stamps dates with: the wall clock, unless ``IMDBOPS_NOW`` says
otherwise.

Everything that writes a date others read back (prediction-log days, batch scores, run ids
and manifests, registry tags, report stamps, retention cutoffs, drift and performance
windows) asks this module, so a replay of past periods (``imdbops replay``) can run the
real commands "in" 1995 and every server and subprocess agrees on the date. Durations and
leases keep using ``time.monotonic``/``time.time``: they measure real seconds, not dates.

``IMDBOPS_NOW`` (unset or empty: the wall clock):

- an ISO date or instant (``2001-06-30``, ``2001-06-30T12:00:00Z``): time stands still at
  that instant (a one-off ``monitor performance`` "as of" a date);
- ``@/path/clock.json``: the file holds ``{"now": ISO instant, "wall": epoch seconds}``;
  the clock reads ``now`` plus the real seconds since ``wall``, so stamps keep their order
  within a period. The file is re-read when it changes, so a long-running API server
  follows a replay from one period to the next.
"""

from __future__ import annotations

import json
import os
import threading
import time as _time
from datetime import UTC, date, datetime
from pathlib import Path

ENV = "IMDBOPS_NOW"


class ClockError(ValueError):
    """``IMDBOPS_NOW`` cannot be read; the message names the value and the expected forms."""


def parse_instant(text: str) -> datetime:
    """An aware UTC datetime from ``2001-06-30``, ``2001-06-30T12:00:00Z`` or with an offset."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(
            f"{ENV}={text!r} is not a date: use 2001-06-30, 2001-06-30T12:00:00Z or "
            "@/path/clock.json (or unset it for the wall clock)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class _FileClock:
    """``{"now": ISO, "wall": epoch}`` from a file, re-read when it changes (its inode, as
    writers replace it atomically, or its mtime or size)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, int, int, int] | None = None
        self._offset = 0.0

    def offset(self, path: str) -> float:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise ClockError(f"{ENV}=@{path}: cannot read the clock file ({exc})") from None
        key = (path, st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._key:
                try:
                    data = json.loads(Path(path).read_text(encoding="utf-8"))
                    self._offset = parse_instant(data["now"]).timestamp() - float(data["wall"])
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise ClockError(
                        f'{ENV}=@{path}: expected {{"now": "2001-06-30T00:00:00Z", "wall": '
                        f"<epoch seconds>}} ({exc})"
                    ) from None
                self._key = key
            return self._offset


_file_clock = _FileClock()


def time() -> float:
    """Seconds since the epoch, as the product's clock reads them."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return _time.time()
    if value.startswith("@"):
        return _time.time() + _file_clock.offset(value[1:])
    return parse_instant(value).timestamp()


def now() -> datetime:
    """The current instant (aware, UTC)."""
    return datetime.fromtimestamp(time(), UTC)


def today() -> date:
    """The current UTC date."""
    return now().date()


def is_wall_clock() -> bool:
    return not os.environ.get(ENV, "").strip()


def clock_file_payload(instant: datetime) -> dict[str, object]:
    """What a ``@file`` clock holds to read ``instant`` from this moment on (the writer
    replaces the file atomically, so a reader never sees half of it)."""
    stamp = instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"now": stamp, "wall": _time.time()}
