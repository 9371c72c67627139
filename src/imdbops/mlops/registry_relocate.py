"""Move a registry between machines: rewrite where its artifacts are said to live.

The embedded registry (SQLite + a local artifact folder) records every artifact location as
an absolute ``file:///<root>/.imdbops/mlartifacts/...`` URI. Served to other machines by an
MLflow server over that database, those URIs name a folder that exists only on the machine
that trained the model, so a pod or a second machine fails to download ``MLmodel``. MLflow's
own portable form is ``mlflow-artifacts:/...``: the client asks the tracking server, which
reads the file from its ``--artifacts-destination``. ``relocate_artifacts`` rewrites the
experiment, its runs, its logged models and its model versions from one root to the other,
in one SQLite transaction (``imdbops model relocate-artifacts``; docs/deployment.md).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from imdbops.config import Config
from imdbops.mlops.tracking import is_remote

PROXIED = "mlflow-artifacts:"
# (table, column, how a row belongs to the experiment) in MLflow 3's SQL schema.
_COLUMNS = (
    ("runs", "artifact_uri", "experiment_id = :exp"),
    ("logged_models", "artifact_location", "experiment_id = :exp"),
    (
        "model_versions",
        "source",
        "run_id IN (SELECT run_uuid FROM runs WHERE experiment_id = :exp)",
    ),
    (
        "model_versions",
        "storage_location",
        "run_id IN (SELECT run_uuid FROM runs WHERE experiment_id = :exp)",
    ),
)


class RelocateError(ValueError):
    """The registry cannot be relocated as asked; the message says why and what to do."""


def registry_db(cfg: Config) -> Path:
    uri = cfg.tracking_uri
    if is_remote(cfg) or not uri.startswith("sqlite:///"):
        raise RelocateError(
            f"tracking.uri is {uri!r}: relocate-artifacts rewrites the embedded SQLite registry "
            "on the machine that holds it; run it there with tracking.uri unset"
        )
    return Path(uri.removeprefix("sqlite:///"))


def relocate_artifacts(cfg: Config, to: str) -> dict[str, object]:
    """Rewrite the experiment's artifact root (and every location under it) to ``to``:
    ``mlflow-artifacts:`` to serve the registry through ``mlflow server --serve-artifacts
    --artifacts-destination <the artifact folder>``, or a ``file://`` URI of the folder to
    use it on one machine again. Returns the old and new roots and the rows changed."""
    if not (to.startswith(PROXIED) or to.startswith("file:///")):
        raise RelocateError(f"--to {to!r}: use {PROXIED}/ or a file:/// URI of the folder")
    db = registry_db(cfg)
    if not db.exists():
        raise RelocateError(f"{db} does not exist: nothing is registered on this machine")
    new_root = to.rstrip("/") if to.startswith("file:") else PROXIED
    conn = sqlite3.connect(db, timeout=30)
    try:
        with conn:  # one transaction: every location moves, or none does
            row = conn.execute(
                "SELECT experiment_id, artifact_location FROM experiments WHERE name = ?",
                (cfg.tracking.experiment,),
            ).fetchone()
            if row is None:
                raise RelocateError(
                    f"no experiment {cfg.tracking.experiment!r} in {db}; nothing to relocate"
                )
            exp, old = row[0], str(row[1]).rstrip("/")
            changed: dict[str, int] = {}
            if old != new_root:
                conn.execute(
                    "UPDATE experiments SET artifact_location = :new WHERE experiment_id = :exp",
                    {"new": new_root if new_root != PROXIED else PROXIED + "/", "exp": exp},
                )
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                for table, column, scope in _COLUMNS:
                    if table not in tables:
                        continue
                    cur = conn.execute(
                        f"UPDATE {table} SET {column} = :new || substr({column}, :n) "  # noqa: S608
                        f"WHERE substr({column}, 1, :n) = :prefix AND {scope}",
                        {"new": new_root, "n": len(old) + 1, "prefix": old + "/", "exp": exp},
                    )
                    changed[f"{table}.{column}"] = cur.rowcount
    finally:
        conn.close()
    return {"database": str(db), "from": old, "to": new_root, "rows": changed}


class ArtifactsUnreachableError(FileNotFoundError):
    """A version's artifacts are recorded at a path of another machine."""


def unreachable_cause(cfg: Config, name: str, version: str, location: str) -> str | None:
    """Why a download of ``location`` failed, when the cause is the registry's layout: a
    ``file://`` path that does not exist here (registered on another machine or in another
    container). None when the location is not of that kind."""
    from urllib.parse import unquote, urlsplit

    if not location.startswith("file:"):
        return None
    path = Path(unquote(urlsplit(location).path))
    if path.exists():
        return None
    return (
        f"{name} version {version}: its artifacts are recorded at {location}, a path on the "
        "machine that registered it, which does not exist here. A registry served to other "
        f"machines must record proxied locations ({PROXIED}/...): on the machine that holds "
        "it run `imdbops model relocate-artifacts`, then serve it with `mlflow server "
        "--backend-store-uri sqlite:///<its mlflow.db> --serve-artifacts --artifacts-destination "
        "<its artifact folder>` (docs/deployment.md#a-registry-that-moves)"
    )
