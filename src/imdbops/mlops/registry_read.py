"""Read-only registry answers for ``imdbops model list / show / champion`` that skip MLflow.

Importing MLflow and opening its SQLAlchemy store (which checks the schema's migrations at
every start) cost ~3-5 s per command; a listing needs four small queries. For the embedded
``sqlite:///`` store the tables are read with ``sqlite3`` (read-only; ``sqlite_rows`` is also
the reader of the pipeline's cache-hit checks in ``registry_checks``) and shaped exactly as
``registry.list_versions`` shapes MLflow's entities. Anything else (a tracking server, another
database, a store these queries do not fit, MLflow workspaces) takes MLflow's client path, so
the answer is always the same as the client's; writes always go through MLflow.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from imdbops.config import Config

_DELETED = "Deleted_Internal"
_TIMEOUT_S = 5.0

# Tests and benchmarks/cli.py turn this off to compare against MLflow's client path.
FAST = True


class _NotFit(Exception):
    """The store holds something these queries do not reproduce: ask MLflow instead."""


def _sqlite_uri(cfg: Config) -> str | None:
    uri = cfg.tracking_uri
    if not FAST or not uri.startswith("sqlite:///") or os.environ.get("MLFLOW_WORKSPACE"):
        return None
    return uri


def list_versions(cfg: Config) -> list[dict[str, Any]]:
    """``registry.list_versions(cfg)``: read from SQLite directly when the store allows."""
    uri = _sqlite_uri(cfg)
    if uri is not None:
        try:
            return _sqlite_versions(uri, cfg.tracking.model_name)
        except (_NotFit, sqlite3.Error):
            pass
    from imdbops.mlops.registry import list_versions as with_client

    return with_client(cfg)


def alias_version(cfg: Config, alias: str = "champion") -> str | None:
    """``registry.alias_version(cfg, alias)``: read from SQLite directly when the store allows."""
    uri = _sqlite_uri(cfg)
    if uri is not None:
        try:
            return sqlite_alias(uri, cfg.tracking.model_name, alias)
        except sqlite3.Error:
            pass
    from imdbops.mlops.registry import alias_version as with_client

    return with_client(cfg, alias)


def load_champion(cfg: Config, alias: str = "champion") -> Any:
    """``registry.load_champion(cfg, alias)`` (a ``LoadedModel`` or None): on a SQLite store
    whose version files are on this disk (``file://``), the version's row, tags, metrics and
    params are read with ``sqlite3`` and its model file in place, with the same archive and
    sha256 checks, so an API or a scoring run starts without importing MLflow (~5 CPU-s).
    Files elsewhere (a server's ``mlflow-artifacts:``, S3) take MLflow's download path."""
    uri = _sqlite_uri(cfg)
    if uri is not None:
        try:
            version = sqlite_alias(uri, cfg.tracking.model_name, alias)
            if version is None:
                return None
            return _load_local(uri, cfg.tracking.model_name, version, alias)
        except (_NotFit, sqlite3.Error):
            pass
    from imdbops.mlops.registry import load_champion as with_client

    return with_client(cfg, alias)


def _load_local(uri: str, name: str, version: str, alias: str) -> Any:
    from urllib.parse import unquote, urlparse

    from imdbops.mlops.registry import LoadedModel, load_verified, refuse_archived
    from imdbops.mlops.serialization import model_file

    rows = sqlite_rows(
        uri,
        "select run_id, storage_location, status, current_stage from model_versions "
        "where name = ? and version = ?",
        (name, int(version)),
    )
    if not rows:
        raise _NotFit("the alias names a version the table does not hold")
    run_id, location, status, stage = rows[0]
    if stage == _DELETED or status != "READY" or not str(location or "").startswith("file://"):
        raise _NotFit("not a ready version with its files on this disk")
    model_dir = Path(unquote(urlparse(location).path))
    if not (model_dir / "MLmodel").is_file():
        raise _NotFit("files missing: MLflow's path names the cause")
    tags = {
        key: value
        for key, value in sqlite_rows(
            uri,
            "select key, value from model_version_tags where name = ? and version = ? "
            "order by rowid",
            (name, int(version)),
        )
    }
    refuse_archived(name, version, tags)
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    if run_id:
        metrics = _latest_metrics(uri, {run_id})[run_id]
        params = dict(
            sqlite_rows(uri, "select key, value from params where run_uuid = ?", (run_id,))
        )
    stored_file, fmt = model_file(model_dir)
    return LoadedModel(
        model=load_verified(stored_file, fmt, name, version, tags),
        name=name,
        version=version,
        alias=alias,
        run_id=run_id or "",
        tags=tags,
        metrics=metrics,
        params=params,
    )


def sqlite_rows(uri: str, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of ``sql`` on the ``sqlite:///`` store at ``uri``, opened read-only; [] when the
    file or the table does not exist yet (nothing was registered there). sqlite3.Error else."""
    path = Path(uri.removeprefix("sqlite:///")).expanduser()
    if not uri.startswith("sqlite:////") and not path.is_absolute():
        path = Path.cwd() / path
    if not path.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=_TIMEOUT_S)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def sqlite_alias(uri: str, name: str, alias: str) -> str | None:
    """The version ``alias`` of ``name`` points at in the SQLite store at ``uri``, or None."""
    rows = sqlite_rows(
        uri,
        "select version from registered_model_aliases where name = ? and alias = ?",
        (name, alias),
    )
    return str(rows[0][0]) if rows else None


def _sqlite_versions(uri: str, name: str) -> list[dict[str, Any]]:
    # The same filter as MLflow's search (a NULL stage is excluded there too).
    versions = sqlite_rows(
        uri,
        "select version, run_id, creation_time from model_versions "
        "where name = ? and current_stage != ? order by version desc",
        (name, _DELETED),
    )
    if not versions:
        return []
    # Insertion order, as MLflow's eager loads return them (dict order shows in --json).
    tags: dict[int, dict[str, str]] = {}
    for version, key, value in sqlite_rows(
        uri,
        "select version, key, value from model_version_tags where name = ? order by rowid",
        (name,),
    ):
        tags.setdefault(version, {})[key] = value
    aliases: dict[int, list[str]] = {}
    for alias, version in sqlite_rows(
        uri, "select alias, version from registered_model_aliases where name = ?", (name,)
    ):
        aliases.setdefault(version, []).append(alias)
    metrics = _test_metrics(uri, {run_id for _, run_id, _ in versions if run_id})
    return [
        {
            "version": str(version),
            "run_id": run_id,
            "aliases": sorted(aliases.get(version, [])),
            "tags": tags.get(version, {}),
            "created": created,
            "metrics": metrics.get(run_id, {}) if run_id else {},
        }
        for version, run_id, created in versions
    ]


def _test_metrics(uri: str, run_ids: set[str]) -> dict[str, dict[str, float]]:
    """run id -> its latest ``test_*`` metrics (NaN as MLflow gives it back)."""
    return {
        run_id: {k: v for k, v in metrics.items() if k.startswith("test_")}
        for run_id, metrics in _latest_metrics(uri, run_ids).items()
    }


def _latest_metrics(uri: str, run_ids: set[str]) -> dict[str, dict[str, float]]:
    """run id -> its latest metrics, as ``run.data.metrics`` (NaN as MLflow gives it back)."""
    if not run_ids:
        return {}
    marks = ",".join("?" * len(run_ids))
    args = tuple(sorted(run_ids))
    found = sqlite_rows(uri, f"select run_uuid from runs where run_uuid in ({marks})", args)
    if len(found) != len(run_ids):
        raise _NotFit("a version's run is missing (MLflow reports that error)")
    out: dict[str, dict[str, float]] = {run_id: {} for run_id in run_ids}
    for run_id, key, value, is_nan in sqlite_rows(
        uri,
        f"select run_uuid, key, value, is_nan from latest_metrics where run_uuid in ({marks}) "
        "order by rowid",
        args,
    ):
        out[run_id][key] = float("nan") if is_nan else float(value)
    return out
