"""Lake snapshots (``<lake>/raw/movies/<md5>/``) and DVC objects (the remote under
``<lake>/dvc`` and the local cache under ``paths.cache_dir``), content-addressed by md5.

An object stays when a kept model version was trained on it (``data_md5``: ``model
reproduce`` fetches it from the remote), when a kept run or current cache record names it,
when a ``.dvc`` file in the project points at it (with a directory's files), when it is one
of the newest ``retention.keep_versions`` entries of a tracked path's version index, or
when the lake's ``latest.json`` points at it.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from imdbops.config import Config
from imdbops.lifecycle.items import Found, Item, local_size, remove_local

DVC_PREFIX = "files/md5"
NEEDED_BY = "no kept version, run or .dvc file uses"


def kept_md5s(cfg: Config, versions: list[dict], referenced: set[str]) -> set[str]:
    from imdbops.dataops.load import read_latest
    from imdbops.dataops.versioning import find_dvc_files, read_dvc_file
    from imdbops.dataops.versioning.history import _read_index

    keep = set(referenced)
    keep.update(r["tags"]["data_md5"] for r in versions if (r.get("tags") or {}).get("data_md5"))
    for dvc_file in find_dvc_files(cfg):
        for out in read_dvc_file(dvc_file):
            keep.add(out.md5)
    for entries in _read_index(cfg).values():
        keep.update(e["md5"] for e in entries[-cfg.retention.keep_versions :])
    latest = read_latest(cfg)
    if latest and latest.get("md5"):
        keep.add(str(latest["md5"]))
    keep |= {m for m in _dir_children(cfg, keep)}
    return keep


def _dir_children(cfg: Config, md5s: set[str]) -> set[str]:
    """The files of kept directory versions (their .dir listing names them)."""
    from imdbops.dataops.versioning.cache import Cache

    cache, out = Cache(cfg.paths.cache_dir), set()
    for md5 in md5s:
        if md5.endswith(".dir") and cache.has(md5):
            out.update(cache.objects_for(md5))
    return out


def collect(cfg: Config, keep: set[str]) -> Found:
    from imdbops.dataops.lake import open_lake
    from imdbops.dataops.load import LAKE_PREFIX
    from imdbops.dataops.versioning.remote import remote_for

    found = Found()
    lake = open_lake(cfg)
    for md5, path in _listed(lake, LAKE_PREFIX, depth=1):
        found.sort(
            "lake_snapshot", md5, md5 in keep, f"raw snapshot {NEEDED_BY}",
            lake.url_for(f"{LAKE_PREFIX}/{md5}"), partial(_size, lake, path),
        )  # fmt: skip
    remote = remote_for(cfg).lake
    for md5, path in _listed(remote, DVC_PREFIX, depth=2):
        found.sort(
            "dvc_object", md5, md5 in keep, f"DVC remote object {NEEDED_BY}",
            remote.url_for(_object_key(md5)), partial(_size, remote, path),
        )  # fmt: skip
    cache_root = Path(cfg.paths.cache_dir) / DVC_PREFIX
    for path in sorted(cache_root.glob("??/*")) if cache_root.is_dir() else []:
        if path.name.startswith(".") or ".tmp" in path.name:
            continue
        md5 = path.parent.name + path.name
        found.sort(
            "dvc_cache", md5, md5 in keep, f"local DVC cache object {NEEDED_BY}",
            str(path), partial(local_size, path),
        )  # fmt: skip
    return found


def _object_key(md5: str) -> str:
    return f"{DVC_PREFIX}/{md5[:2]}/{md5[2:]}"


def _listed(store: Any, prefix: str, depth: int) -> list[tuple[str, str]]:
    """``(md5, path)`` under ``prefix``: folders ``<md5>/`` (depth 1) or DVC's
    ``ab/cdef...`` files (depth 2)."""
    fs = store.fs
    base = store.path(prefix)
    fs.invalidate_cache()
    try:
        first = fs.ls(base, detail=False)
    except FileNotFoundError:
        return []
    out = []
    for entry in sorted(first):
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        if ".tmp-" in name or name.startswith("."):
            continue
        if depth == 1:
            if fs.isdir(entry):
                out.append((name, entry))
            continue
        try:
            inner = fs.ls(entry, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for path in sorted(inner):
            rest = path.rstrip("/").rsplit("/", 1)[-1]
            if ".tmp-" not in rest and not rest.startswith("."):
                out.append((name + rest, path))
    return out


def _size(store: Any, path: str) -> int | None:
    try:
        return int(store.fs.du(path))
    except (OSError, NotImplementedError, ValueError):
        return None


def remove(cfg: Config, item: Item) -> None:
    from imdbops.dataops.lake import open_lake
    from imdbops.dataops.load import LAKE_PREFIX
    from imdbops.dataops.versioning.remote import remote_for

    if item.kind == "dvc_cache":
        remove_local(Path(cfg.paths.cache_dir) / _object_key(item.target))
        return
    if item.kind == "lake_snapshot":
        store, key = open_lake(cfg), f"{LAKE_PREFIX}/{item.target}"
    else:
        store, key = remote_for(cfg).lake, _object_key(item.target)
    if store.is_local:
        remove_local(Path(store.path(key)))
        return
    try:
        store.fs.rm(store.path(key), recursive=True)
    except FileNotFoundError:
        pass
    store.fs.invalidate_cache()
