"""Registered model versions: the newest ``retention.keep_versions`` (and any younger than
``retention.keep_version_days``), every aliased version (the champion) and every version a
kept run names keep their artifacts. Older ones are *archived*: their model files and run
artifacts are deleted, the version stays in the registry with its lineage tags, its run
keeps its params and metrics, and the tag ``imdbops.archived`` says when and why.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.config import Config
from imdbops.failpoints import failpoint
from imdbops.lifecycle.items import Found, Item, local_size
from imdbops.lifecycle.runs import Refs
from imdbops.log import get_logger
from imdbops.mlops.registry import ARCHIVED_TAG

log = get_logger("lifecycle.models")


def is_archived(tags: dict[str, str]) -> bool:
    return bool(tags.get(ARCHIVED_TAG))


def collect(cfg: Config, refs: Refs, now: float | None = None) -> tuple[Found, list[dict]]:
    """Versions to archive, and the kept versions' rows (their lineage keeps data)."""
    from imdbops.mlops.registry_read import list_versions

    now = time.time() if now is None else now
    keep_n, keep_days = cfg.retention.keep_versions, cfg.retention.keep_version_days
    rows = list_versions(cfg)  # newest first
    found, kept, candidates = Found(), [], []
    for rank, row in enumerate(rows):
        version, tags = row["version"], row.get("tags") or {}
        age_days = (now - (row.get("created") or 0) / 1000) / 86400
        why_kept = (
            f"alias {', '.join(row['aliases'])}"
            if row.get("aliases")
            else f"one of the newest {keep_n} (retention.keep_versions)"
            if rank < keep_n
            else "a kept run or cache record names it"
            if version in refs.versions
            else f"younger than {keep_days} days (retention.keep_version_days)"
            if keep_days is not None and age_days < keep_days
            else None
        )
        if why_kept:
            found.keep.add(("model_version", version))
            kept.append(row)
        elif not is_archived(tags):
            candidates.append(row)
    if not candidates:
        return found, kept
    in_use = {r.get("run_id") for r in kept}
    client = _client(cfg)
    for row in candidates:
        version = row["version"]
        uris = _artifact_uris(cfg, client, version, shared_runs=in_use)
        found.remove.append(
            Item(
                "model_version",
                version,
                f"archive: older than the newest {keep_n} versions"
                + (f" and {keep_days} days" if keep_days is not None else "")
                + ", not aliased, named by no kept run (lineage and metrics stay)",
                ", ".join(uris),
                sum(_local_size(u) for u in uris) or None,
                {"uris": uris},
            )
        )
    return found, kept


def _client(cfg: Config):
    from imdbops.mlops.tracking import get_client

    return get_client(cfg)


def _artifact_uris(cfg: Config, client, version: str, shared_runs: set) -> list[str]:
    """Where the version's files live: its logged model, and its run's artifacts (unless a
    kept version shares that run)."""
    mv = client.get_model_version(cfg.tracking.model_name, version)
    uris = []
    source = mv.source or ""
    if source.startswith("models:/"):
        model_id = source.removeprefix("models:/").split("/", 1)[0]
        try:
            uris.append(client.get_logged_model(model_id).artifact_location)
        except Exception:  # noqa: BLE001 - an old store without logged models: nothing there
            pass
    elif source and not source.startswith("runs:/"):
        uris.append(source)
    if mv.run_id and mv.run_id not in shared_runs:
        uris.append(client.get_run(mv.run_id).info.artifact_uri)
    return uris


def _local_size(uri: str) -> int:
    if uri.startswith("file://"):
        return local_size(Path(uri.removeprefix("file://")))
    if "://" not in uri:
        return local_size(Path(uri))
    return 0


def archive(cfg: Config, item: Item) -> None:
    """Delete the version's artifacts, then tag it archived (a re-run redoes both)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    client = _client(cfg)
    name = cfg.tracking.model_name
    for uri in item.detail.get("uris") or []:
        repo = get_artifact_repository(uri)
        try:
            repo.delete_artifacts()
        except Exception as exc:  # noqa: BLE001 - each repository raises its own "not found"
            if _still_there(repo):
                raise OSError(f"cannot delete the artifacts at {uri}: {exc}") from None
        failpoint("gc.archive.after_delete")
    stamp = clock.now().isoformat(timespec="seconds")
    client.set_model_version_tag(name, item.target, ARCHIVED_TAG, f"{stamp} by imdbops gc")
    log.info("archived %s version %s", name, item.target)


def _still_there(repo: Any) -> bool:
    try:
        return bool(repo.list_artifacts())
    except Exception:  # noqa: BLE001 - cannot list: assume the files are still there
        return True
