"""Log files: ``<paths.logs_dir>/<stamp>-<command>-<pid>.jsonl``, one per command and server
start (log.py), and nothing else removes them.

The newest ``retention.keep_logs`` stay (names start with a UTC stamp: sorted by name is
sorted by time), and so does any file modified in the last ``retention.min_age_hours``: a
running server or pipeline may still be writing it, and removing an open file loses what it
writes next.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from imdbops.config import Config
from imdbops.lifecycle.items import Found, Item, local_size, remove_local

SUFFIX = ".jsonl"


def collect(cfg: Config, now: float | None = None) -> Found:
    now = time.time() if now is None else now
    keep_n, min_age_s = cfg.retention.keep_logs, cfg.retention.min_age_hours * 3600
    folder = Path(cfg.paths.logs_dir)
    try:
        files = sorted((p for p in folder.iterdir() if p.name.endswith(SUFFIX)), reverse=True)
    except FileNotFoundError:
        return Found()
    found = Found()
    for rank, path in enumerate(files):
        try:
            fresh = now - path.stat().st_mtime < min_age_s
        except FileNotFoundError:
            continue
        found.sort(
            "log_file", path.name, rank < keep_n or fresh,
            f"older than the newest {keep_n} log files (retention.keep_logs)",
            str(path), partial(local_size, path),
        )  # fmt: skip
    return found


def remove(cfg: Config, item: Item) -> None:
    remove_local(Path(cfg.paths.logs_dir) / item.target)
