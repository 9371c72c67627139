"""The scoring DAG ``imdb_scoring``: extract unrated -> score -> publish.

Defined once, like the training DAG in :mod:`imdbops.pipelines`: the Orchestrator runs it
(``imdbops score dag``), Airflow runs one task per ``imdbops score task NAME`` and reads
``TASK_SPECS``/``EDGES`` from this module in its own virtualenv, so this module imports only
the standard library and :mod:`imdbops.orchestrator` at module level.

The model version is part of the score task's cache key (resolved from the champion alias
when the DAG is built), so a new champion re-scores; the same champion on the same extract
is a cache hit. Scoring is incremental anyway: rows the version already scored on identical
input are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdbops.orchestrator import DAG
from imdbops.orchestrator.catalog import External, Location
from imdbops.pipelines import CODE_PACKAGES, SOURCE_HINTS, TaskSpec, _lake_identity, build_tasks

if TYPE_CHECKING:
    from imdbops.config import Config

DAG_NAME = "imdb_scoring"
DEFINED_IN = "src/imdbops/scoring_dag.py"
__all__ = ["CODE_PACKAGES", "DAG_NAME", "EDGES", "TASK_NAMES", "TASK_SPECS", "build_dag", "catalog"]

# Which warehouse is read/written: for a server, its fingerprint file (the ``warehouse``
# source) does not say, so these key the cache (DuckDB ignores them; its file is hashed).
_WAREHOUSE_PARAMS = (
    "warehouse.host",
    "warehouse.port",
    "warehouse.database",
    "warehouse.model_schema",
    "warehouse.raw_schema",
)
# How to reach the warehouse (backend, file, login, spill folder): never a cache key.
_WAREHOUSE_SETTINGS = (
    "warehouse.backend",
    "warehouse.path",
    "warehouse.user",
    "warehouse.connect_timeout",
    "paths.state_dir",
)
_TRACKING_SETTINGS = ("tracking.uri", "tracking.artifact_dir")

TASK_SPECS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "extract_unrated",
        "run_extract_unrated",
        {"warehouse": "warehouse"},
        {"out_path": "unrated"},
        params=_WAREHOUSE_PARAMS,
        settings=_WAREHOUSE_SETTINGS,
        description="movies in the raw tables without a rating, streamed to Parquet",
    ),
    TaskSpec(
        "score",
        "run_score",
        {"unrated": "unrated"},
        {"out_path": "scores"},
        # + ``model_version`` (resolved when the DAG is built), see build_dag.
        params=("tracking.model_name",),
        # The warehouse is read only to skip rows already scored (state, not an input).
        settings=(*_TRACKING_SETTINGS, *_WAREHOUSE_PARAMS, *_WAREHOUSE_SETTINGS),
        description="predict_proba in chunks with the champion; skip rows already scored",
    ),
    TaskSpec(
        "publish",
        "run_publish",
        {"scores": "scores"},
        {"out_path": "published", "lake_copy": "predictions_lake"},
        params=("lake.url", *_WAREHOUSE_PARAMS),
        settings=("lake.storage_options", *_WAREHOUSE_SETTINGS),
        description="lake copy under the model version + one warehouse transaction",
        retries=2,
    ),
)
SPEC_BY_NAME = {s.name: s for s in TASK_SPECS}
EDGES: tuple[tuple[str, str], ...] = (("extract_unrated", "score"), ("score", "publish"))
TASK_NAMES = tuple(s.name for s in TASK_SPECS)


def catalog(cfg: Config) -> dict[str, Location | External]:
    """Where every artifact of the scoring DAG lives (the only place that says so)."""
    from imdbops.dataops.warehouse_backends.base import source_path  # stdlib-only

    p = cfg.paths
    paths = {
        "warehouse": source_path(cfg),
        "unrated": p.interim_dir / "scoring" / "unrated.parquet",
        "scores": p.processed_dir / "scoring" / "scores.parquet",
        "published": p.processed_dir / "scoring" / "published.json",
    }
    entries: dict[str, Location | External] = {
        name: Location(name, Path(path)) for name, path in paths.items()
    }
    identity, access = _lake_identity(cfg, cfg.lake.url)
    entries["predictions_lake"] = External(
        identity,
        "imdbops.scoring_dag:check_lake_copy",
        "the published scores' copy in the lake",
        access,
    )
    return entries


def artifact_paths(cfg: Config) -> dict[str, Path]:
    return {k: v.path for k, v in catalog(cfg).items() if isinstance(v, Location)}


def build_dag(
    cfg: Config, model_version: str | None = None, specs: tuple[TaskSpec, ...] = TASK_SPECS
) -> DAG:
    """The scoring DAG through the step contract (``pipelines.build_tasks``): each step gets
    a read-only view of its declared keys. ``model_version`` (default: the champion now)
    keys the score cache."""
    if model_version is None:
        from imdbops.mlops.registry import alias_version

        model_version = alias_version(cfg) or "none"
    tasks = build_tasks(cfg, specs, globals(), defined_in=DEFINED_IN)
    for task in tasks:
        if task.name == "score":
            task.params["model_version"] = str(model_version)
    return DAG(DAG_NAME, tasks, catalog(cfg), sources=["warehouse"], source_hints=SOURCE_HINTS)


# ---- thin wrappers: import the step lazily; ``cfg`` is the step's read-only view ---------
def run_extract_unrated(cfg: Config, warehouse: Path, out_path: Path, **_: Any) -> dict:
    from imdbops.dataops.predictions_store import extract_unrated

    return {"rows": extract_unrated(cfg, out_path)}


def run_score(cfg: Config, unrated: Path, out_path: Path, model_version: str, **_: Any) -> dict:
    from imdbops.scoring.batch import resolve_model, score_file

    model = resolve_model(cfg, None if model_version == "none" else model_version)
    return score_file(cfg, unrated, out_path, model=model).to_dict()


def run_publish(cfg: Config, scores: Path, out_path: Path, lake_copy: External, **_: Any) -> dict:
    from imdbops.atomic import atomic_write_json
    from imdbops.scoring.batch import publish

    result = publish(cfg, scores)
    atomic_write_json(out_path, result)
    # Nothing new to score -> no lake copy: recorded as such (key None), checked as present.
    record = result.get("lake_copy") or {"key": None}
    return {**result, "external": {"predictions_lake": record}}


def check_lake_copy(identity: dict, record: dict, access: dict) -> str | None:
    """A publish is a cache hit only while its scores' copy is still in the lake (same md5)."""
    if record.get("key") is None:
        return None
    from imdbops.dataops.lake_checks import check_lake_object

    return check_lake_object(identity, record, access)
