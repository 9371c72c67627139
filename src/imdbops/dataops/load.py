"""Load step: publish the validated extract as ``data/raw/movies.csv`` and into the lake.

Lake layout: ``<lake>/raw/movies/<md5>/movies.csv`` (content-addressed, so re-loading the
same snapshot is a no-op) and ``<lake>/raw/movies/latest.json`` naming the newest snapshot.
The pointer is written last: a reader following it always finds a complete file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.artifact_names import file_name
from imdbops.atomic import atomic_path
from imdbops.dataops.lake import LakeError, open_lake
from imdbops.dataops.schemas import read_table
from imdbops.dataops.versioning.hashing import md5_file
from imdbops.log import get_logger

log = get_logger(__name__)
RAW_NAME = file_name("raw_csv")  # the lake copy keeps the catalog's name
LAKE_PREFIX = "raw/movies"
LATEST_KEY = f"{LAKE_PREFIX}/latest.json"  # the pointer to the newest snapshot
STALE_TMP_S = 3600.0  # a temp this old belongs to a writer that died, not a slow one


@dataclass(frozen=True)
class LoadResult:
    raw_csv: Path
    md5: str
    n_rows: int
    lake_url: str
    latest_url: str
    uploaded: bool  # False when the lake already held this exact snapshot

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["raw_csv"] = str(self.raw_csv)
        return data


def write_raw_csv(
    cfg: Any, extract_path: str | Path, target: str | Path | None = None
) -> tuple[Path, int]:
    """Write the extract as the raw CSV (atomically); returns (path, rows).

    ``target`` is where the DAG's catalog puts it; ``<paths.raw_dir>/movies.csv`` otherwise.
    """
    df = read_table(extract_path)
    target = Path(target) if target else Path(cfg.paths.raw_dir) / RAW_NAME
    try:
        with atomic_path(target) as tmp:
            df.to_csv(tmp, index=False)
    except OSError as exc:
        raise OSError(
            f"cannot write {target}: {exc.strerror or exc}; check paths.raw_dir is writable "
            "and the disk has free space"
        ) from None
    return target, len(df)


def load_snapshot(
    cfg: Any, extract_path: str | Path, raw_csv: str | Path | None = None
) -> LoadResult:
    """Publish a validated extract locally (``raw_csv``) and to the lake (``cfg.lake.url``).

    Call it after ``validate_raw_file`` passed; it does not validate again.
    """
    raw_csv, n_rows = write_raw_csv(cfg, extract_path, raw_csv)
    md5 = md5_file(raw_csv)
    lake = open_lake(cfg)
    lake.sweep_stale_tmp(LAKE_PREFIX, STALE_TMP_S)
    key = f"{LAKE_PREFIX}/{md5}/{RAW_NAME}"
    uploaded = not lake.exists(key)
    if uploaded:
        lake.put_file(raw_csv, key)
    pointer = {
        "md5": md5,
        "key": key,
        "url": lake.url_for(key),
        "rows": n_rows,
        "loaded_at": clock.now().isoformat(),
    }
    latest = lake.put_bytes(LATEST_KEY, json.dumps(pointer, indent=2).encode())
    log.info("loaded %d rows (md5 %s) to %s", n_rows, md5, lake.url_for(key))
    return LoadResult(raw_csv, md5, n_rows, lake.url_for(key), latest, uploaded)


def read_latest(cfg: Any) -> dict[str, Any] | None:
    """The lake's ``latest`` pointer, or None before the first load."""
    lake = open_lake(cfg)
    try:
        return json.loads(lake.read_bytes(LATEST_KEY))
    except FileNotFoundError:
        return None
    except (ValueError, LakeError) as exc:
        raise LakeError(f"cannot read {lake.url_for(LATEST_KEY)}: {exc}") from None
