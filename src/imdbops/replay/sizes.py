"""How much state the product keeps: bytes per place, local folders and object stores.

Measured after each period, so the report shows whether state grows with history (it
should stay flat once retention and ``gc`` run). The replay's own folder (snapshots, logs,
report) is input and output of the replay, not product state, and is left out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from imdbops.config import Config

REPLAY_DIR = "replay"


def folder_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:  # removed while we walked (a server rotating its log)
                continue
    return total


def store_bytes(url: str, options: dict[str, Any]) -> int:
    from imdbops.objectstore import ObjectStore

    store = ObjectStore(url, options)
    try:
        return int(store.fs.du(store.root)) if store.fs.exists(store.root) else 0
    except OSError:
        return 0


def state_sizes(cfg: Config) -> dict[str, int]:
    """``{place: bytes}``: each top-level folder under the project root (``data``,
    ``.imdbops``, ``runs``, ``reports``, ``logs``...) and, when configured, the object-store
    prefixes (``artifacts_url``, ``lake.url``, ``prediction_log_url``)."""
    root = Path(cfg.paths.root)
    sizes: dict[str, int] = {}
    for entry in sorted(root.iterdir()):
        if entry.name == REPLAY_DIR:
            continue
        sizes[entry.name] = folder_bytes(entry) if entry.is_dir() else entry.stat().st_size
    remote = {
        "artifacts_url": (cfg.paths.artifacts_url, cfg.paths.artifacts_storage_options),
        "lake": (cfg.lake.url, cfg.lake.storage_options),
        "prediction_log_url": (
            cfg.monitoring.prediction_log_url,
            cfg.monitoring.prediction_log_storage_options,
        ),
    }
    for name, (url, options) in remote.items():
        if url and "://" in url and not url.startswith("file://"):
            sizes[name] = store_bytes(url, options)
    return sizes
