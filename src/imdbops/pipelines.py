"""The training DAG: which step runs after which, on which files, with which config keys.

One definition serves the Orchestrator (``imdbops pipeline run``), the single-task command
Airflow calls (``imdbops pipeline task NAME``) and the Airflow DAG file itself. This module
imports only the standard library and ``imdbops.orchestrator`` at module level, so
``dags/imdb_training.py`` can read ``TASK_SPECS``/``EDGES`` in Airflow's own virtualenv.
Each step function is imported lazily inside its wrapper.

Parameters: every task declares the config keys it depends on (``params``). They are part
of its cache key, so changing ``training.n_trials`` re-runs tune and what depends on it,
and nothing upstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdbops.orchestrator import DAG, Task

if TYPE_CHECKING:
    from imdbops.config import Config

DAG_NAME = "imdb_training"
# Third-party packages are not hashed: a library upgrade is an environment change.
CODE_PACKAGES = ("imdbops",)
SOURCE_HINTS = {
    "warehouse": "build it first: `imdbops data ingest --source bundled` then "
    "`imdbops warehouse build`",
}


@dataclass(frozen=True)
class TaskSpec:
    name: str
    function: str  # wrapper in this module
    inputs: dict[str, str] = field(default_factory=dict)  # argument -> artifact
    outputs: dict[str, str] = field(default_factory=dict)
    after: tuple[str, ...] = ()  # ordering-only edges (validation gates)
    params: tuple[str, ...] = ()  # config keys: "section" or "section.key"
    description: str = ""
    retries: int = 0  # for steps that talk to remote storage (transient network errors)


TASK_SPECS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "extract",
        "run_extract",
        {"warehouse": "warehouse"},
        {"out_path": "extract", "meta": "extract_meta"},
        params=(
            "warehouse.extract_query",
            "warehouse.min_year",
            "warehouse.max_rows",
            "warehouse.strict_filters",
        ),
        description="SQL extract of the modelling table from the warehouse",
    ),
    TaskSpec(
        "validate_raw",
        "run_validate_raw",
        {"path": "extract"},
        {"report": "raw_report"},
        params=("validation",),
        description="pandera checks + distribution checks of the raw extract",
    ),
    TaskSpec(
        "load",
        "run_load",
        {"extract_path": "extract"},
        {"raw_csv": "raw_csv"},
        after=("validate_raw",),
        params=("lake.url",),
        description="publish data/raw/movies.csv and a lake copy",
        retries=2,
    ),
    TaskSpec(
        "version",
        "run_version",
        {"raw_csv": "raw_csv"},
        {"dvc_file": "raw_dvc"},
        params=("lake.url",),
        description="DVC-compatible .dvc file + push to the remote",
        retries=2,
    ),
    TaskSpec(
        "transform",
        "run_transform",
        {"raw_csv": "raw_csv"},
        {"out_path": "processed"},
        after=("version",),
        description="clean titles, labels, features",
    ),
    TaskSpec(
        "validate_processed",
        "run_validate_processed",
        {"path": "processed"},
        {"report": "processed_report"},
        params=("validation",),
        description="pandera checks of the processed frame",
    ),
    TaskSpec(
        "split",
        "run_split",
        {"processed": "processed"},
        {"out_dir": "splits"},
        after=("validate_processed",),
        params=("training.seed", "training.val_size", "training.test_size"),
        description="stratified train/val/test split",
    ),
    TaskSpec(
        "tune",
        "run_tune",
        {"splits_dir": "splits"},
        {"out_path": "best_params"},
        params=(
            "training.model",
            "training.params",
            "training.seed",
            "training.n_trials",
            "training.timeout_s",
        ),
        description="Optuna search on the validation split",
    ),
    TaskSpec(
        "train",
        "run_train",
        {"splits_dir": "splits", "params_path": "best_params"},
        {"out_dir": "model"},
        params=("training.model", "training.params", "training.seed"),
        description="fit the sklearn Pipeline, log to MLflow",
    ),
    TaskSpec(
        "evaluate",
        "run_evaluate",
        {"model_dir": "model", "splits_dir": "splits"},
        {"out_dir": "evaluation"},
        params=(
            "training.seed",
            "training.primary_metric",
            "training.bootstrap_samples",
            "training.bootstrap_alpha",
        ),
        description="test metrics, baselines, plots",
    ),
    TaskSpec(
        "register",
        "run_register",
        {"model_dir": "model", "eval_dir": "evaluation"},
        {"out_path": "registered"},
        params=("tracking.experiment", "tracking.model_name"),
        description="register the model version in MLflow with lineage tags",
    ),
    TaskSpec(
        "promote",
        "run_promote",
        {"registered_json": "registered", "splits_dir": "splits"},
        {"out_path": "decision"},
        params=(
            "tracking.model_name",
            "training.primary_metric",
            "training.min_margin_over_baseline",
            "training.regression_tolerance",
            "training.bootstrap_samples",
            "training.bootstrap_alpha",
            "training.seed",
        ),
        description="gate against baseline and champion; move the champion alias",
    ),
)

SPEC_BY_NAME = {s.name: s for s in TASK_SPECS}


def _edges() -> tuple[tuple[str, str], ...]:
    producer = {a: s.name for s in TASK_SPECS for a in s.outputs.values()}
    edges: list[tuple[str, str]] = []
    for s in TASK_SPECS:
        ups = [producer[a] for a in s.inputs.values() if a in producer] + list(s.after)
        edges.extend((u, s.name) for u in dict.fromkeys(ups))
    return tuple(edges)


# (upstream, downstream) pairs, including validation gates; what Airflow wires.
EDGES = _edges()
TASK_NAMES = tuple(s.name for s in TASK_SPECS)


def artifact_paths(cfg: Config) -> dict[str, Path]:
    """Where every artifact of the DAG lives, all derived from the Config."""
    from imdbops.dataops.warehouse_backends.base import source_path  # stdlib-only

    p = cfg.paths
    return {
        "warehouse": source_path(cfg),
        "extract": p.interim_dir / "extract.parquet",
        "extract_meta": p.interim_dir / "extract.parquet.meta.json",
        "raw_report": p.reports_dir / "validation" / "raw.json",
        "raw_csv": p.raw_dir / "movies.csv",
        "raw_dvc": p.raw_dir / "movies.csv.dvc",
        "processed": p.processed_dir / "movies.parquet",
        "processed_report": p.reports_dir / "validation" / "processed.json",
        "splits": p.processed_dir / "splits",
        "best_params": p.processed_dir / "best_params.json",
        "model": p.processed_dir / "model",
        "evaluation": p.processed_dir / "evaluation",
        "registered": p.processed_dir / "registered.json",
        "decision": p.processed_dir / "decision.json",
    }


def task_params(cfg: Config, keys: tuple[str, ...]) -> dict[str, Any]:
    """The declared config keys as a nested dict, secrets redacted (they land in cache files)."""
    data = cfg.redacted()
    params: dict[str, Any] = {}
    for key in keys:
        section, _, name = key.partition(".")
        value = data[section] if not name else data[section][name]
        if name:
            params.setdefault(section, {})[name] = value
        else:
            params[section] = value
    return params


def build_dag(cfg: Config) -> DAG:
    """The training DAG for ``cfg``; checking it imports none of the step modules."""
    tasks = []
    for spec in TASK_SPECS:
        tasks.append(
            Task(
                spec.name,
                globals()[spec.function],
                inputs=spec.inputs,
                outputs=spec.outputs,
                params=task_params(cfg, spec.params),
                after=list(spec.after),
                description=spec.description,
                retries=spec.retries,
            )
        )
    return DAG(
        DAG_NAME, tasks, artifact_paths(cfg), sources=["warehouse"], source_hints=SOURCE_HINTS
    )


# ---- thin wrappers: import the step lazily, pass paths, ignore the params kwargs --------
# (Params reach the steps through ``cfg``; they are passed here only to key the cache.)


def run_extract(cfg: Config, warehouse: Path, out_path: Path, meta: Path, **_: Any) -> dict:
    from imdbops.dataops.extract import extract_to_file

    return extract_to_file(cfg, out_path).to_dict()


def run_validate_raw(cfg: Config, path: Path, report: Path, **_: Any) -> dict:
    from imdbops.dataops.schemas import validate_raw_file

    return _validation_summary(validate_raw_file(cfg, path))


def run_load(cfg: Config, extract_path: Path, raw_csv: Path, **_: Any) -> dict:
    from imdbops.dataops.load import load_snapshot

    result = load_snapshot(cfg, extract_path)
    if Path(result.raw_csv) != Path(raw_csv):
        raise RuntimeError(f"load wrote {result.raw_csv}, the DAG expects {raw_csv}")
    return result.to_dict()


def run_version(cfg: Config, raw_csv: Path, dvc_file: Path, **_: Any) -> dict:
    from imdbops.dataops.versioning import add, push

    out = add(cfg, raw_csv)
    pushed = push(cfg, [raw_csv])
    return {"md5": out.md5, "size": out.size, "pushed": len(pushed.pushed)}


def run_transform(cfg: Config, raw_csv: Path, out_path: Path, **_: Any) -> str:
    from imdbops.mlops.transform_step import transform_file

    return str(transform_file(cfg, raw_csv, out_path))


def run_validate_processed(cfg: Config, path: Path, report: Path, **_: Any) -> dict:
    from imdbops.dataops.schemas import validate_processed_file

    return _validation_summary(validate_processed_file(cfg, path))


def run_split(cfg: Config, processed: Path, out_dir: Path, **_: Any) -> dict:
    from imdbops.mlops.split import split_file

    return split_file(cfg, processed, out_dir)


def run_tune(cfg: Config, splits_dir: Path, out_path: Path, **_: Any) -> dict:
    from imdbops.mlops.tune import tune

    return tune(cfg, splits_dir, out_path)


def run_train(cfg: Config, splits_dir: Path, params_path: Path, out_dir: Path, **_: Any) -> dict:
    from imdbops.mlops.train import train

    return train(cfg, splits_dir, params_path, out_dir)


def run_evaluate(cfg: Config, model_dir: Path, splits_dir: Path, out_dir: Path, **_: Any) -> dict:
    from imdbops.mlops.evaluate import evaluate

    return evaluate(cfg, model_dir, splits_dir, out_dir)


def run_register(cfg: Config, model_dir: Path, eval_dir: Path, out_path: Path, **_: Any) -> dict:
    from imdbops.mlops.register_step import register

    info = register(cfg, model_dir, eval_dir, out_path=out_path)
    return {k: v for k, v in vars(info).items() if isinstance(v, str | int | float | None)}


def run_promote(
    cfg: Config, registered_json: Path, splits_dir: Path, out_path: Path, **_: Any
) -> dict:
    from imdbops.mlops.promote import promote

    decision = promote(cfg, registered_json, splits_dir, out_path)
    return {k: decision.get(k) for k in ("decision", "reason", "challenger_version")}


def _validation_summary(result: Any) -> dict:
    return {
        "ok": getattr(result, "ok", None),
        "rows": getattr(result, "n_rows", None),
        "warnings": len(getattr(result, "warnings", []) or []),
    }
