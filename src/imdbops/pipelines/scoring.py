"""The scoring DAG ``imdb_scoring``: extract unrated -> score -> publish.

Defined like the training DAG (:mod:`imdbops.pipelines.training`), through the step
contract of :mod:`imdbops.pipelines.contract`: the Orchestrator runs it (``imdbops score
dag``), Airflow runs one task per ``imdbops score task NAME`` and reads ``TASK_SPECS``/
``EDGES`` from this module in its own virtualenv, so this module imports only the standard
library and the orchestrator at module level.

The model version is part of the score task's cache key (a ``resolved`` value: the champion
alias's version when the DAG is built), so a new champion re-scores; the same champion on
the same extract is a cache hit. Scoring is incremental anyway: rows the version already
scored on identical input are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdbops.orchestrator import DAG
from imdbops.orchestrator.catalog import External
from imdbops.pipelines import contract
from imdbops.pipelines.contract import Pipeline, TaskSpec

if TYPE_CHECKING:
    from imdbops.config import Config

DAG_NAME = "imdb_scoring"
DEFINED_IN = "src/imdbops/pipelines/scoring.py"

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
        params=("tracking.model_name",),
        resolved=("model_version",),  # the champion's version when the DAG is built
        # The warehouse is read only to skip rows already scored (state, not an input).
        settings=(*_TRACKING_SETTINGS, *_WAREHOUSE_PARAMS, *_WAREHOUSE_SETTINGS),
        description="predict_proba in chunks with the champion; skip rows already scored",
        resource_class="heavy",
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
PIPELINE = Pipeline(DAG_NAME, TASK_SPECS, DEFINED_IN)
SPEC_BY_NAME = PIPELINE.spec_by_name
TASK_NAMES = PIPELINE.task_names
EDGES = PIPELINE.edges


def build_dag(cfg: Config, model_version: str | None = None, pipeline: Pipeline = PIPELINE) -> DAG:
    """The scoring DAG; ``model_version`` (default: the champion now) keys the score cache."""
    if model_version is None:
        from imdbops.mlops.registry import alias_version

        model_version = alias_version(cfg) or "none"
    resolved = {"score": {"model_version": str(model_version)}}
    return contract.build_dag(cfg, pipeline, globals(), resolved)


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
