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

from imdbops.orchestrator import DAG, Task
from imdbops.pipelines import CODE_PACKAGES, SOURCE_HINTS, TaskSpec, task_params

if TYPE_CHECKING:
    from imdbops.config import Config

DAG_NAME = "imdb_scoring"
__all__ = ["CODE_PACKAGES", "DAG_NAME", "EDGES", "TASK_NAMES", "TASK_SPECS", "build_dag"]

TASK_SPECS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "extract_unrated",
        "run_extract_unrated",
        {"warehouse": "warehouse"},
        {"out_path": "unrated"},
        description="movies in the raw tables without a rating, streamed to Parquet",
    ),
    TaskSpec(
        "score",
        "run_score",
        {"unrated": "unrated"},
        {"out_path": "scores"},
        params=("tracking.model_name",),
        description="predict_proba in chunks with the champion; skip rows already scored",
    ),
    TaskSpec(
        "publish",
        "run_publish",
        {"scores": "scores"},
        {"out_path": "published"},
        params=("lake.url",),
        description="lake copy under the model version + one warehouse transaction",
        retries=2,
    ),
)
SPEC_BY_NAME = {s.name: s for s in TASK_SPECS}
EDGES: tuple[tuple[str, str], ...] = (("extract_unrated", "score"), ("score", "publish"))
TASK_NAMES = tuple(s.name for s in TASK_SPECS)


def artifact_paths(cfg: Config) -> dict[str, Path]:
    from imdbops.dataops.warehouse_backends.base import source_path  # stdlib-only

    p = cfg.paths
    return {
        "warehouse": source_path(cfg),
        "unrated": p.interim_dir / "scoring" / "unrated.parquet",
        "scores": p.processed_dir / "scoring" / "scores.parquet",
        "published": p.processed_dir / "scoring" / "published.json",
    }


def build_dag(cfg: Config, model_version: str | None = None) -> DAG:
    """The scoring DAG; ``model_version`` (default: the champion now) keys the score cache."""
    if model_version is None:
        from imdbops.mlops.registry import alias_version

        model_version = alias_version(cfg) or "none"
    tasks = []
    for spec in TASK_SPECS:
        params = task_params(cfg, spec.params)
        if spec.name == "score":
            params["model_version"] = str(model_version)
        tasks.append(
            Task(
                spec.name,
                globals()[spec.function],
                inputs=spec.inputs,
                outputs=spec.outputs,
                params=params,
                after=list(spec.after),
                description=spec.description,
                retries=spec.retries,
            )
        )
    return DAG(
        DAG_NAME, tasks, artifact_paths(cfg), sources=["warehouse"], source_hints=SOURCE_HINTS
    )


# ---- thin wrappers: import the step lazily ------------------------------------------------
def run_extract_unrated(cfg: Config, warehouse: Path, out_path: Path, **_: Any) -> dict:
    from imdbops.dataops.predictions_store import extract_unrated

    return {"rows": extract_unrated(cfg, out_path)}


def run_score(cfg: Config, unrated: Path, out_path: Path, model_version: str, **_: Any) -> dict:
    from imdbops.scoring.batch import resolve_model, score_file

    model = resolve_model(cfg, None if model_version == "none" else model_version)
    return score_file(cfg, unrated, out_path, model=model).to_dict()


def run_publish(cfg: Config, scores: Path, out_path: Path, **_: Any) -> dict:
    from imdbops.atomic import atomic_write_json
    from imdbops.scoring.batch import publish

    result = publish(cfg, scores)
    atomic_write_json(out_path, result)
    return result
