"""Cache-hit checks for the training DAG's registry outputs: is model version N still there
with the recorded ``artifact_sha256``, and does the alias still point where it was left?

They run on every no-change ``pipeline run``, so they avoid importing MLflow (~3 s of CPU)
where they can: the embedded SQLite store is read with ``sqlite3`` (read-only, through
``registry_read``, the reader ``imdbops model list`` uses too) and a
tracking server through its REST API; any other store goes through ``MlflowClient``.
Each returns ``None`` (still there and matching) or a reason; a store that cannot be
asked raises :class:`ExternalUnreachableError` naming the URL (credentials stripped).
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from imdbops.mlops.registry_read import sqlite_alias, sqlite_rows
from imdbops.orchestrator.catalog import ExternalUnreachableError

_DELETED = "Deleted_Internal"
_TIMEOUT_S = 5.0


def check_model_version(identity: dict, record: dict, access: dict) -> str | None:
    name, version = identity["model"], str(record["version"])
    uri = access.get("display") or identity["tracking_uri"]
    found = _model_version(access.get("tracking_uri") or uri, uri, name, version)
    if found is None:
        return f"external output missing: model version {version} of {name} in {uri}"
    sha = found.get("artifact_sha256")
    if sha != record.get("artifact_sha256"):
        return (
            f"external output changed: model version {version} of {name} in {uri} has "
            f"artifact_sha256 {sha}, recorded {record.get('artifact_sha256')}"
        )
    return None


def check_alias(identity: dict, record: dict, access: dict) -> str | None:
    name, alias = identity["model"], identity["alias"]
    uri = access.get("display") or identity["tracking_uri"]
    now = _alias_version(access.get("tracking_uri") or uri, uri, name, alias)
    was = record.get("version")
    if now != (None if was is None else str(was)):
        where = f"version {now}" if now else "no version"
        return (
            f"external output changed: alias {alias!r} of {name} in {uri} points at {where}, "
            f"recorded {'version ' + str(was) if was else 'none'}"
        )
    return None


# ---- one lookup per store kind ----------------------------------------------------------
def _model_version(uri: str, public: str, name: str, version: str) -> dict[str, str] | None:
    """The version's tags, or None when it does not exist (or was deleted)."""
    if uri.startswith("sqlite:///"):
        rows = _sqlite(
            uri,
            public,
            "select v.current_stage, t.value from model_versions v left join "
            "model_version_tags t on t.name = v.name and t.version = v.version and "
            "t.key = 'artifact_sha256' where v.name = ? and v.version = ?",
            (name, int(version)),
        )
        if not rows or rows[0][0] == _DELETED:
            return None
        return {"artifact_sha256": rows[0][1]}
    if uri.startswith(("http://", "https://")):
        data = _rest(uri, public, "model-versions/get", {"name": name, "version": version})
        if data is None:
            return None
        mv = data.get("model_version") or {}
        return {t["key"]: t.get("value") for t in mv.get("tags") or []}
    return _with_client(uri, public, lambda c: dict(c.get_model_version(name, version).tags))


def _alias_version(uri: str, public: str, name: str, alias: str) -> str | None:
    if uri.startswith("sqlite:///"):
        try:
            return sqlite_alias(uri, name, alias)
        except sqlite3.Error as exc:
            raise ExternalUnreachableError(
                f"cannot read the MLflow store {public}: {exc}"
            ) from None
    if uri.startswith(("http://", "https://")):
        data = _rest(uri, public, "registered-models/alias", {"name": name, "alias": alias})
        return None if data is None else str((data.get("model_version") or {})["version"])
    found = _with_client(uri, public, lambda c: c.get_model_version_by_alias(name, alias))
    return None if found is None else str(found.version)


def _sqlite(uri: str, public: str, sql: str, args: tuple) -> list[tuple]:
    try:
        return sqlite_rows(uri, sql, args)
    except sqlite3.Error as exc:
        raise ExternalUnreachableError(f"cannot read the MLflow store {public}: {exc}") from None


def _rest(uri: str, public: str, endpoint: str, query: dict[str, str]) -> dict[str, Any] | None:
    parts = urllib.parse.urlsplit(uri)
    base = uri
    headers = {"Accept": "application/json"}
    if parts.username or parts.password:
        host = parts.hostname or ""
        base = urllib.parse.urlunsplit(
            (parts.scheme, f"{host}:{parts.port}" if parts.port else host, parts.path, "", "")
        )
        raw = f"{urllib.parse.unquote(parts.username or '')}:"
        raw += urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
    elif os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]
    elif os.environ.get("MLFLOW_TRACKING_USERNAME"):
        raw = f"{os.environ['MLFLOW_TRACKING_USERNAME']}:"
        raw += os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
        headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
    url = f"{base.rstrip('/')}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310
            return json.loads(response.read().decode())
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        if exc.code == 404 or "RESOURCE_DOES_NOT_EXIST" in body:
            return None
        raise ExternalUnreachableError(
            f"the MLflow server {public} answered HTTP {exc.code} while checking {endpoint}: "
            f"{body[:200]}"
        ) from None
    except (OSError, ValueError) as exc:
        raise ExternalUnreachableError(
            f"cannot reach the MLflow server {public} to check the registry: {exc}; start it "
            "or fix tracking.uri"
        ) from None


def _with_client(uri: str, public: str, ask) -> Any:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return ask(MlflowClient(tracking_uri=uri, registry_uri=uri))
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise ExternalUnreachableError(f"cannot check the MLflow store {public}: {exc}") from None
    except Exception as exc:  # drivers raise their own types; all mean "cannot ask"
        raise ExternalUnreachableError(f"cannot reach the MLflow store {public}: {exc}") from None
