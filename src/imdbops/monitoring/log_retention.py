"""How long the local prediction log keeps its days (``monitoring.log_retention_days``).

A server logs every answer, so without a bound its ``prediction_log_dir`` grows for ever.
With ``log_retention_days: N`` a day's partition ``date=YYYY-MM-DD`` is removed once it is
more than N days old (UTC), by every server's log thread (on start, then every minute) and
by every reader before it lists the log, so a monitor's downloaded copies are bounded too.

When ``monitoring.prediction_log_url`` is set the store is the log of record: a local day is
removed only once every part in it is on the store (same name and size), so an outage never
costs a prediction; the store itself is left to the bucket's own lifecycle rules. Readers
never fetch days older than the cutoff back. Unset (the default) keeps everything.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from imdbops import clock
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.monitoring import log_ship
from imdbops.monitoring.log_parts import DAY_DIR, is_part

log = get_logger("monitoring.log_retention")
_said_kept = False


@dataclass
class Pruned:
    days: int = 0  # day partitions removed
    files: int = 0  # part files removed with them
    kept: int = 0  # past the cutoff, kept for now (parts not on the store yet, or an error)


def cutoff_day(cfg: Config, today: date | None = None) -> str | None:
    """The oldest day (``YYYY-MM-DD``) still kept, or None when everything is kept."""
    keep = cfg.monitoring.log_retention_days
    if keep is None:
        return None
    today = today or clock.today()
    return (today - timedelta(days=keep)).isoformat()


def _old_days(directory: Path, cutoff: str) -> list[Path]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    return sorted(
        Path(e.path)
        for e in entries
        if (m := DAY_DIR.match(e.name)) and m.group(1) < cutoff and e.is_dir()
    )


def _all_shipped(store, folder: Path) -> bool:
    local = {p.name: p.stat().st_size for p in folder.iterdir() if is_part(p.name)}
    if not local:
        return True
    try:
        listed = store.fs.find(store.path(folder.name), detail=True)
    except FileNotFoundError:
        return False
    remote = {path.rsplit("/", 1)[-1]: info.get("size") for path, info in listed.items()}
    return all(remote.get(name) == size for name, size in local.items())


def prune(cfg: Config, today: date | None = None) -> Pruned:
    """Remove the local day partitions past ``monitoring.log_retention_days`` (see above)."""
    result = Pruned()
    cutoff = cutoff_day(cfg, today)
    if cutoff is None:
        return result
    old = _old_days(Path(cfg.monitoring.prediction_log_dir), cutoff)
    if not old:
        return result
    try:
        store = log_ship.open_store(cfg)
        if store is not None:
            store.fs.invalidate_cache()
    except Exception as exc:  # noqa: BLE001 - fsspec back-ends raise many types
        log.debug("kept %d old day(s): cannot open %s: %s", len(old), log_ship.log_url(cfg), exc)
        result.kept = len(old)
        return result
    for folder in old:
        try:
            if store is not None and not _all_shipped(store, folder):
                result.kept += 1
                continue
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
                result.files += 1
            folder.rmdir()
            result.days += 1
        except FileNotFoundError:
            continue  # another process pruned it first
        except Exception as exc:  # noqa: BLE001 - a store's client raises many types; a
            # reader must not fail over housekeeping (an unreachable store, a new file)
            result.kept += 1
            log.debug("kept %s for now: %s", folder, exc)
    if result.days:
        log.info(
            "prediction log: removed %d day(s) older than %s (%d file(s); "
            "monitoring.log_retention_days=%s)",
            result.days, cutoff, result.files, cfg.monitoring.log_retention_days,
        )  # fmt: skip
    if result.kept:
        # Said once per process at INFO: a server checks every minute while a store is down.
        global _said_kept
        level, _said_kept = (logging.DEBUG if _said_kept else logging.INFO), True
        log.log(
            level,
            "prediction log: kept %d day(s) past retention for now (parts not yet on %s, or "
            "it cannot be read); the next check tries again",
            result.kept, log_ship.log_url(cfg) or "the store",
        )  # fmt: skip
    return result
