"""The training DAG ``imdb_training``: extract -> ... -> promote.

One definition serves the Orchestrator (``imdbops pipeline run``), the single-task command
Airflow calls (``imdbops pipeline task NAME``) and the Airflow DAG file itself. The specs
follow the step contract of :mod:`imdbops.pipelines.contract` (catalog, params, settings);
this module only lists them and the step wrappers, each of which imports its step lazily,
so ``dags/imdb_training.py`` can read ``TASK_SPECS``/``EDGES`` in Airflow's own virtualenv.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdbops.orchestrator import DAG
from imdbops.orchestrator.catalog import External, Location
from imdbops.pipelines import contract
from imdbops.pipelines.contract import Pipeline, TaskSpec

if TYPE_CHECKING:
    from imdbops.config import Config

DAG_NAME = "imdb_training"
DEFINED_IN = "src/imdbops/pipelines/training.py"

# Where local state lives and how the embedded tracking store is found: never a cache key
# (moving the project folder must not re-run anything).
_STORE_SETTINGS = ("paths.artifacts_url", "paths.artifacts_storage_options")
_TRACKING_SETTINGS = ("tracking.uri", "tracking.artifact_dir", "paths.state_dir")

TASK_SPECS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "extract",
        "run_extract",
        {"warehouse": "warehouse"},
        {"out_path": "extract", "meta_path": "extract_meta"},
        params=(
            "warehouse.extract_query",
            "warehouse.min_year",
            "warehouse.max_rows",
            "warehouse.strict_filters",
            # Which server's data is read (a PostgreSQL warehouse's fingerprint file does not
            # say); DuckDB ignores them.
            "warehouse.host",
            "warehouse.port",
            "warehouse.database",
            "warehouse.model_schema",
        ),
        # The warehouse source (DuckDB file or server fingerprint) is a hashed input, so the
        # backend and the file's path need not key the cache; nor do login and spill folder.
        settings=(
            "warehouse.backend",
            "warehouse.path",
            "warehouse.user",
            "warehouse.connect_timeout",
            "warehouse.raw_schema",
            "warehouse.dbt_target",
            "paths.state_dir",
        ),
        description="SQL extract of the modelling table from the warehouse",
    ),
    TaskSpec(
        "validate_raw",
        "run_validate_raw",
        {"path": "extract"},
        {"report": "raw_report"},
        params=("validation",),
        # The last accepted dataset's statistics: under state_dir, or in the artifact store.
        settings=("paths.state_dir", *_STORE_SETTINGS),
        description="pandera checks + distribution checks of the raw extract",
    ),
    TaskSpec(
        "load",
        "run_load",
        {"extract_path": "extract"},
        {"raw_csv": "raw_csv", "snapshot": "lake_snapshot"},
        after=("validate_raw",),
        params=("lake.url",),
        settings=("lake.storage_options",),  # its endpoint keys the cache via lake_snapshot
        description="publish data/raw/movies.csv and a lake copy",
        retries=2,
    ),
    TaskSpec(
        "version",
        "run_version",
        {"raw_csv": "raw_csv"},
        {"dvc_file": "raw_dvc", "remote": "dvc_remote"},
        params=("lake.url",),
        settings=("lake.storage_options", "paths.root", "paths.state_dir", "paths.cache_dir"),
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
        settings=("paths.state_dir", *_STORE_SETTINGS),
        description="pandera checks of the processed frame",
    ),
    TaskSpec(
        "split",
        "run_split",
        {"processed": "processed"},
        {"out_dir": "splits"},
        after=("validate_processed",),
        params=(
            "training.seed",
            "training.val_size",
            "training.test_size",
            "training.out_of_time_years",
        ),
        description="train/val/test split by a stable hash of tconst (+ out-of-time holdout)",
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
        settings=("paths.state_dir",),  # the resumable Optuna study
        description="Optuna search on the validation split",
        resource_class="heavy",
    ),
    TaskSpec(
        "train",
        "run_train",
        {
            "splits_dir": "splits",
            "params_path": "best_params",
            "raw_csv": "raw_csv",
            "raw_dvc": "raw_dvc",
        },
        {"out_dir": "model"},
        params=("training.model", "training.params", "training.seed"),
        # The MLflow run is a log of this task, not its output: the model folder is.
        settings=(*_TRACKING_SETTINGS, "tracking.experiment"),
        description="fit the sklearn Pipeline, log to MLflow",
        resource_class="heavy",
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
        settings=(*_TRACKING_SETTINGS, "tracking.experiment"),
        description="test metrics, baselines, plots",
        resource_class="heavy",
    ),
    TaskSpec(
        "register",
        "run_register",
        {"model_dir": "model", "eval_dir": "evaluation", "splits_dir": "splits"},
        {"out_path": "registered", "version": "model_version"},
        params=("tracking.experiment", "tracking.model_name"),
        settings=(*_TRACKING_SETTINGS, "paths.cache_dir"),
        description="register the model version in MLflow with lineage tags",
    ),
    TaskSpec(
        "promote",
        "run_promote",
        {"registered_json": "registered", "splits_dir": "splits"},
        {"out_path": "decision", "alias": "champion_alias"},
        params=(
            "tracking.model_name",
            "training.primary_metric",
            "training.min_margin_over_baseline",
            "training.regression_tolerance",
            "training.bootstrap_samples",
            "training.bootstrap_alpha",
            "training.seed",
            "training.gate_holdout",
            "training.min_compare_rows",
            "training.live_min_titles",
            "training.live_tolerance",
        ),
        # The shadow verdict the live-evidence policy reads (mlops/promotion_policy.py).
        settings=(*_TRACKING_SETTINGS, "paths.cache_dir", "monitoring.reports_dir"),
        description="gate on test rows neither model trained on; move the champion alias",
    ),
)

PIPELINE = Pipeline(DAG_NAME, TASK_SPECS, DEFINED_IN)
SPEC_BY_NAME = PIPELINE.spec_by_name
TASK_NAMES = PIPELINE.task_names
# (upstream, downstream) pairs, including validation gates; what Airflow wires.
EDGES = PIPELINE.edges


def catalog(cfg: Config) -> dict[str, Location | External]:
    """Where every artifact of this DAG lives (from the one catalog in ``contract``)."""
    return contract.catalog(cfg, PIPELINE)


def artifact_paths(cfg: Config) -> dict[str, Path]:
    return contract.artifact_paths(cfg, PIPELINE)


def build_dag(cfg: Config, pipeline: Pipeline = PIPELINE) -> DAG:
    """The training DAG for ``cfg`` (``pipeline``: its definition, e.g. with a spec changed
    by a test); checking it imports none of the step modules."""
    return contract.build_dag(cfg, pipeline, globals())


# ---- thin wrappers: import the step lazily, hand it its locations and its config view ----
# ``cfg`` is the step's read-only view; params also arrive as keyword arguments (ignored:
# they are passed to key the cache).


def run_extract(cfg: Config, warehouse: Path, out_path: Path, meta_path: Path, **_: Any) -> dict:
    from imdbops.dataops.extract import extract_to_file

    return extract_to_file(cfg, out_path, meta_file=meta_path).to_dict()


def run_validate_raw(cfg: Config, path: Path, report: Path, **_: Any) -> dict:
    from imdbops.dataops.schemas import validate_raw_file

    return _validation_summary(validate_raw_file(cfg, path, report_dir=Path(report).parent))


def run_load(cfg: Config, extract_path: Path, raw_csv: Path, snapshot: External, **_: Any) -> dict:
    from imdbops.dataops.load import LAKE_PREFIX, RAW_NAME, load_snapshot

    result = load_snapshot(cfg, extract_path, raw_csv=raw_csv)
    key = f"{LAKE_PREFIX}/{result.md5}/{RAW_NAME}"
    record = {"key": key, "md5": result.md5, "size": Path(raw_csv).stat().st_size}
    return {**result.to_dict(), "external": {"lake_snapshot": record}}


def run_version(cfg: Config, raw_csv: Path, dvc_file: Path, remote: External, **_: Any) -> dict:
    from imdbops.dataops.versioning import add, push
    from imdbops.dataops.versioning.dvcfile import dvc_file_for

    if dvc_file_for(Path(raw_csv).absolute()) != Path(dvc_file).absolute():
        raise ValueError(
            f"the catalog puts raw_dvc at {dvc_file}, but DVC keeps it beside the data "
            f"({dvc_file_for(Path(raw_csv))}); fix raw_dvc in imdbops.artifact_names.ARTIFACT_FILES"
        )
    out = add(cfg, raw_csv)
    pushed = push(cfg, [raw_csv])
    objects = dict.fromkeys([*pushed.pushed, *pushed.skipped])
    return {
        "md5": out.md5,
        "size": out.size,
        "pushed": len(pushed.pushed),
        "external": {"dvc_remote": {"objects": objects}},
    }


def run_transform(cfg: Config, raw_csv: Path, out_path: Path, **_: Any) -> str:
    from imdbops.mlops.transform_step import transform_file

    return str(transform_file(cfg, raw_csv, out_path))


def run_validate_processed(cfg: Config, path: Path, report: Path, **_: Any) -> dict:
    from imdbops.dataops.schemas import validate_processed_file

    return _validation_summary(validate_processed_file(cfg, path, report_dir=Path(report).parent))


def run_split(cfg: Config, processed: Path, out_dir: Location, **_: Any) -> dict:
    from imdbops.mlops.split import split_file

    return split_file(cfg, processed, out_dir)


def run_tune(cfg: Config, splits_dir: Location, out_path: Path, **_: Any) -> dict:
    from imdbops.mlops.tune import tune

    return tune(cfg, splits_dir, out_path)


def run_train(
    cfg: Config,
    splits_dir: Location,
    params_path: Path,
    raw_csv: Path,
    raw_dvc: Path,
    out_dir: Location,
    **_: Any,
) -> dict:
    from imdbops.mlops.train import train

    return train(cfg, splits_dir, params_path, out_dir, raw_csv=raw_csv)


def run_evaluate(
    cfg: Config, model_dir: Location, splits_dir: Location, out_dir: Location, **_: Any
) -> dict:
    from imdbops.mlops.evaluate import evaluate

    return evaluate(cfg, model_dir, splits_dir, out_dir)


def run_register(
    cfg: Config,
    model_dir: Location,
    eval_dir: Location,
    splits_dir: Location,
    out_path: Path,
    version: External,
    **_: Any,
) -> dict:
    from imdbops.mlops.register_step import register

    info = register(cfg, model_dir, eval_dir, out_path=out_path, splits_dir=splits_dir)
    result = {k: v for k, v in vars(info).items() if isinstance(v, str | int | float | None)}
    record = {"version": info.version, "artifact_sha256": info.tags.get("artifact_sha256")}
    return {**result, "external": {"model_version": record}}


def run_promote(
    cfg: Config,
    registered_json: Path,
    splits_dir: Location,
    out_path: Path,
    alias: External,
    **_: Any,
) -> dict:
    from imdbops.mlops.promote import promote

    decision = promote(cfg, registered_json, splits_dir, out_path)
    record = {"alias": "champion", "version": decision.get("champion_after")}
    # The whole decision is the task's result: `monitor run --retrain` reads it from the
    # manifest of the run it started.
    return {**decision, "external": {"champion_alias": record}}


def _validation_summary(result: Any) -> dict:
    return {
        "ok": getattr(result, "ok", None),
        "rows": getattr(result, "n_rows", None),
        "warnings": len(getattr(result, "warnings", []) or []),
    }
