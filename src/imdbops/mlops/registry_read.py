"""Read-only registry answers for ``imdbops model list / show / champion`` that skip MLflow.

Importing MLflow and opening its SQLAlchemy store (which checks the schema's migrations at
every start) cost ~3-5 s per command; a listing needs four small queries. For the embedded
``sqlite:///`` store the tables are read with ``sqlite3`` (read-only, the same reader the
pipeline's cache-hit checks use: ``registry_checks.read_sqlite``) and shaped exactly as
``registry.list_versions`` shapes MLflow's entities. Anything else (a tracking server, another
database, a store these queries do not fit, MLflow workspaces) takes MLflow's client path, so
the answer is always the same as the client's; writes always go through MLflow.
"""

from __future__ import annotations

import os
from typing import Any

from imdbops.config import Config
from imdbops.mlops.registry_checks import alias_at, read_sqlite
from imdbops.mlops.tracking import public_uri
from imdbops.orchestrator.catalog import ExternalUnreachableError

_DELETED = "Deleted_Internal"

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
            return _sqlite_versions(uri, public_uri(uri), cfg.tracking.model_name)
        except (_NotFit, ExternalUnreachableError):
            pass
    from imdbops.mlops.registry import list_versions as with_client

    return with_client(cfg)


def alias_version(cfg: Config, alias: str = "champion") -> str | None:
    """``registry.alias_version(cfg, alias)``: read from SQLite directly when the store allows."""
    uri = _sqlite_uri(cfg)
    if uri is not None:
        try:
            return alias_at(uri, public_uri(uri), cfg.tracking.model_name, alias)
        except ExternalUnreachableError:
            pass
    from imdbops.mlops.registry import alias_version as with_client

    return with_client(cfg, alias)


def _sqlite_versions(uri: str, public: str, name: str) -> list[dict[str, Any]]:
    # The same filter as MLflow's search (a NULL stage is excluded there too).
    versions = read_sqlite(
        uri,
        public,
        "select version, run_id, creation_time from model_versions "
        "where name = ? and current_stage != ? order by version desc",
        (name, _DELETED),
    )
    if not versions:
        return []
    # Insertion order, as MLflow's eager loads return them (dict order shows in --json).
    tags: dict[int, dict[str, str]] = {}
    for version, key, value in read_sqlite(
        uri,
        public,
        "select version, key, value from model_version_tags where name = ? order by rowid",
        (name,),
    ):
        tags.setdefault(version, {})[key] = value
    aliases: dict[int, list[str]] = {}
    for alias, version in read_sqlite(
        uri, public, "select alias, version from registered_model_aliases where name = ?", (name,)
    ):
        aliases.setdefault(version, []).append(alias)
    metrics = _test_metrics(uri, public, {run_id for _, run_id, _ in versions if run_id})
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


def _test_metrics(uri: str, public: str, run_ids: set[str]) -> dict[str, dict[str, float]]:
    """run id -> its latest ``test_*`` metrics (NaN as MLflow gives it back)."""
    if not run_ids:
        return {}
    marks = ",".join("?" * len(run_ids))
    args = tuple(sorted(run_ids))
    found = read_sqlite(uri, public, f"select run_uuid from runs where run_uuid in ({marks})", args)
    if len(found) != len(run_ids):
        raise _NotFit("a version's run is missing (MLflow reports that error)")
    out: dict[str, dict[str, float]] = {run_id: {} for run_id in run_ids}
    for run_id, key, value, is_nan in read_sqlite(
        uri,
        public,
        f"select run_uuid, key, value, is_nan from latest_metrics where run_uuid in ({marks}) "
        "order by rowid",
        args,
    ):
        if key.startswith("test_"):
            out[run_id][key] = float("nan") if is_nan else float(value)
    return out
