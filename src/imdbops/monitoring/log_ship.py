"""The prediction log on an object store: parts shipped up by servers, fetched by monitors.

With ``monitoring.prediction_log_url`` set (``s3://bucket/predictions``), every finished
Parquet part ``<prediction_log_dir>/date=YYYY-MM-DD/part-*.parquet`` is also uploaded to
``<url>/date=YYYY-MM-DD/part-*.parquet`` by a background thread of the server (``Shipper``),
and whatever reads the log first downloads the parts it lacks (``fetch_missing``), so a
monitor on another machine sees every replica's predictions.

Parts are immutable with deterministic names, so uploading one twice writes the same bytes:
shipping is idempotent, and "not uploaded yet" is simply "no object of that name and size".
Uploads go through ``ObjectStore`` (temp key, then move), downloads through a temp file then
a rename, so no one ever reads half a part. The request path never waits for the store: when
it is unreachable the thread warns once naming the URL and retries with backoff; the parts
stay on local disk, and the next pass (or the next start) finds and uploads them. An upload
that timed out against a hung store can still land later under its temp key; the thread
removes its own such temps after the next good pass, and once more when it stops.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.monitoring.log_parts import DAY_DIR, is_part

log = get_logger("monitoring.log_ship")

SETTING = "monitoring.prediction_log_url"
# Every part is re-listed this often even if its folder's mtime looks unchanged (a folder
# mtime can be coarse on some file systems).
FULL_SCAN_S = 60.0
# A day with this many parts waiting is listed on the store once instead of part by part.
LIST_DAY_AT = 10
MAX_BACKOFF_S = 30.0


class LogShipError(OSError):
    """The prediction log's object store cannot be read; the message names the URL and fix."""


def log_url(cfg: Config) -> str:
    """The configured URL ('' when unset); a relative local folder is under ``paths.root``."""
    url = (cfg.monitoring.prediction_log_url or "").strip()
    if url and "://" not in url and not Path(url).is_absolute():
        url = str(cfg.paths.root / url)
    return url


def open_store(cfg: Config):
    """The ``ObjectStore`` of the configured URL, or None when it is unset."""
    url = log_url(cfg)
    if not url:
        return None
    from imdbops.objectstore import ObjectStore

    return ObjectStore(url, cfg.monitoring.prediction_log_storage_options, setting=SETTING)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Shipper:
    """Uploads the finished parts under ``directory`` in its own thread (see module doc)."""

    def __init__(self, cfg: Config, directory: Path, interval_s: float = 1.0):
        self.cfg, self.directory, self.url = cfg, Path(directory), log_url(cfg)
        self.interval_s = max(0.05, interval_s)
        self.parts_shipped = 0
        self.ship_errors = 0
        self._store: Any = None
        self._shipped: set[str] = set()  # keys known to be on the store
        self._pending: set[str] = set()  # keys found locally, not known to be on the store
        self._mtimes: dict[str, int] = {}  # date folder -> mtime at its last listing
        # Settled days (before yesterday, every part shipped) -> their folder's mtime: their
        # names leave _shipped, which would otherwise grow by a part a second for ever.
        self._settled: dict[str, int] = {}
        self._next_full = 0.0
        # Day folders where an upload of ours failed: its temp object may still land there
        # (a hung store finishing the request late); swept after the next good pass, and
        # every one again at close.
        self._stray_days: set[str] = set()
        self._failed_days: set[str] = set()
        self._down = False
        self._backoff = self.interval_s
        self._retry_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="prediction-log-shipper", daemon=True
        )
        self._thread.start()

    def poke(self) -> None:
        """New parts may be there (called after a flush); ship them soon."""
        self._wake.set()

    def close(self, timeout: float = 15.0) -> None:
        """One last pass for the parts written so far, then stop (bounded by ``timeout``)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "stopped before every prediction-log part reached %s; the next start ships "
                "the rest",
                self.url,
            )

    def unshipped(self) -> int:
        return len(self._pending)

    # ---- the thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            if stopping or time.monotonic() >= self._retry_at:
                try:
                    self._pass()
                except Exception as exc:  # noqa: BLE001 - never let the store stop the server
                    self._failed(exc)
            if stopping:
                return
            wait = self.interval_s if not self._down else self._retry_at - time.monotonic()
            self._wake.wait(max(0.05, wait))
            self._wake.clear()

    def _pass(self) -> None:
        if self._store is None:
            self._store = open_store(self.cfg)
        self._scan()
        if not self._pending:
            self._settle()
            self._sweep_strays()
            self._recovered(0)
            return
        fs = self._store.fs
        fs.invalidate_cache()  # other replicas' uploads since the last look
        self._skip_listed()
        shipped = 0
        for key in sorted(self._pending):
            local = self.directory / key
            if not local.exists():  # removed locally (retention) before it was shipped
                self._pending.discard(key)
                continue
            size = local.stat().st_size
            try:
                on_store = fs.info(self._store.path(key)).get("size") == size
            except FileNotFoundError:
                on_store = False
            if not on_store:
                try:
                    self._store.put_file(local, key, point="prediction_log.ship")
                except BaseException:
                    day = key.split("/", 1)[0]
                    self._stray_days.add(day)
                    self._failed_days.add(day)
                    raise
                shipped += 1
            self._pending.discard(key)
            self._shipped.add(key)
        self.parts_shipped += shipped
        self._settle()
        self._sweep_strays()
        self._recovered(shipped)

    def _sweep_strays(self) -> None:
        """Remove our own late-landing temps (no upload of ours is in flight here)."""
        days = self._failed_days if self._stop.is_set() else self._stray_days
        for day in sorted(days):
            self._store.sweep_stale_tmp(day, own=True)
        self._stray_days.clear()

    def _skip_listed(self) -> None:
        """List each day with many pending parts once (every day at start, a settled day
        that changed), so a restart re-uploads nothing and asks nothing part by part."""
        per_day: dict[str, int] = {}
        for key in self._pending:
            day = key.split("/", 1)[0]
            per_day[day] = per_day.get(day, 0) + 1
        days = {d for d, n in per_day.items() if n >= LIST_DAY_AT}
        if not days:
            return
        root = self._store.root + "/"
        local_sizes = {}
        for key in self._pending:
            if key.split("/", 1)[0] not in days:
                continue
            try:
                local_sizes[key] = (self.directory / key).stat().st_size
            except FileNotFoundError:
                continue
        for day in sorted(days):
            try:
                listed = self._store.fs.find(self._store.path(day), detail=True)
            except FileNotFoundError:
                continue
            for path, info in listed.items():
                key = path.removeprefix(root)
                if key in local_sizes and info.get("size") == local_sizes[key]:
                    self._pending.discard(key)
                    self._shipped.add(key)

    def _settle(self) -> None:
        """Forget the part names of days before yesterday (UTC) with nothing pending."""
        recent = (clock.now() - timedelta(days=1)).strftime("date=%Y-%m-%d")
        busy = {key.split("/", 1)[0] for key in self._pending}
        settling = {
            day: mtime
            for day, mtime in self._mtimes.items()
            if day < recent and day not in busy and day not in self._settled
        }
        if settling:  # one pass over the names however many days settle (90 at a start)
            self._settled.update(settling)
            self._shipped = {k for k in self._shipped if k.split("/", 1)[0] not in settling}

    def _scan(self) -> None:
        """Add the local parts not known to be shipped; re-list only folders that changed."""
        now = time.monotonic()
        if now >= self._next_full:
            self._mtimes.clear()
            self._next_full = now + FULL_SCAN_S
        try:
            folders = [e for e in os.scandir(self.directory) if DAY_DIR.match(e.name)]
        except FileNotFoundError:
            return
        present = {folder.name for folder in folders}
        for day in [d for d in self._settled if d not in present]:  # removed (retention)
            del self._settled[day]
        for folder in folders:
            try:
                mtime = folder.stat().st_mtime_ns  # before listing: a later rename changes it
                if self._mtimes.get(folder.name, self._settled.get(folder.name)) == mtime:
                    self._mtimes[folder.name] = mtime
                    continue
                self._settled.pop(folder.name, None)  # changed since: list it again
                names = os.listdir(folder.path)
            except FileNotFoundError:
                continue
            self._mtimes[folder.name] = mtime
            for name in names:
                key = f"{folder.name}/{name}"
                if is_part(name) and key not in self._shipped:
                    self._pending.add(key)

    def _failed(self, exc: Exception) -> None:
        self.ship_errors += 1
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
        if not self._down:
            self._down = True
            log.warning(
                "cannot ship prediction-log parts to %s (%s); predictions are still logged "
                "locally and %d part(s) wait to be uploaded; retrying (check %s, its "
                "storage options and the credentials in the environment)",
                self.url,
                _reason(exc),
                len(self._pending),
                SETTING,
            )
        else:
            log.debug("still cannot ship prediction-log parts to %s: %s", self.url, exc)

    def _recovered(self, shipped: int) -> None:
        if self._down:
            log.info(
                "%s is reachable again: shipped %d waiting prediction-log part(s)",
                self.url,
                shipped,
            )
        self._down = False
        self._backoff = self.interval_s
        self._retry_at = 0.0


def fetch_missing(cfg: Config, since_day: str | None = None) -> int:
    """Download the parts on the store that the local log lacks; returns how many.

    With ``since_day`` (``YYYY-MM-DD``) only partitions from that day on. A no-op when
    ``monitoring.prediction_log_url`` is unset. Raises ``LogShipError`` naming the URL when
    the store cannot be read: a report computed without the other replicas' predictions
    would look valid and be wrong.
    """
    url = log_url(cfg)
    if not url:
        return 0
    directory = Path(cfg.monitoring.prediction_log_dir)
    try:
        store = open_store(cfg)
        fs = store.fs
        try:
            folders = fs.ls(store.root, detail=False)
        except FileNotFoundError:
            log.warning("no prediction-log parts under %s yet", url)
            return 0
        wanted = []
        for folder in folders:
            name = folder.rstrip("/").rsplit("/", 1)[-1]
            match = DAY_DIR.match(name)
            if not match or (since_day and match.group(1) < since_day):
                continue
            for path, info in fs.find(folder, detail=True).items():
                part = path.rsplit("/", 1)[-1]
                key = f"{name}/{part}"
                local = directory / key
                size = info.get("size")
                if is_part(part) and not (local.exists() and local.stat().st_size == size):
                    wanted.append((key, size))
        for key, size in wanted:
            local = store.get_file(key, directory / key)
            got = local.stat().st_size
            if size is not None and got != size:
                local.unlink()
                raise OSError(f"{key} arrived with {got} bytes, not {size}")
    except LogShipError:
        raise
    except Exception as exc:  # noqa: BLE001 - s3fs/botocore raise many types
        raise LogShipError(
            f"cannot fetch the prediction log from {url} ({_reason(exc)}); check {SETTING}, "
            "its storage options and the credentials in the environment"
        ) from None
    if wanted:
        log.info("fetched %d prediction-log part(s) from %s", len(wanted), url)
    return len(wanted)
