"""The training DAG: which step runs after which, where every artifact lives, and which
config keys each step may read.

One definition serves the Orchestrator (``imdbops pipeline run``), the single-task command
Airflow calls (``imdbops pipeline task NAME``) and the Airflow DAG file itself. This module
imports only the standard library and ``imdbops.orchestrator`` at module level, so
``dags/imdb_training.py`` can read ``TASK_SPECS``/``EDGES`` in Airflow's own virtualenv.
Each step function is imported lazily inside its wrapper.

The step contract (docs/step-contract.md):
- ``catalog(cfg)`` is the only place that says where an artifact lives, including the files
  inside a folder artifact that other steps read (``FOLDER_FILES``) and the outputs held by
  outside systems (model version, champion alias, lake snapshot, DVC remote objects).
  The runner hands each step the locations of its inputs and outputs.
- ``params`` are the config keys a step's result depends on: they are in its cache key.
  ``settings`` are keys it may read that must not key the cache (where local state lives,
  credentials). The step gets a read-only view holding exactly these keys; any other read
  raises at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdbops.orchestrator import DAG, Task
from imdbops.orchestrator.catalog import External, Location

if TYPE_CHECKING:
    from imdbops.config import Config

DAG_NAME = "imdb_training"
# Third-party packages are not hashed: a library upgrade is an environment change.
CODE_PACKAGES = ("imdbops",)
SOURCE_HINTS = {
    "warehouse": "build it first: `imdbops data ingest --source bundled` then "
    "`imdbops warehouse build`",
}
DEFINED_IN = "src/imdbops/pipelines.py"
DECLARE_HINT = (
    "declare it in TaskSpec({task!r}) in {where}: under params if the result depends on it "
    "(it keys the cache), under settings if not"
)

# Files inside folder artifacts that other steps (or the CLI) read, by role.
FOLDER_FILES: dict[str, dict[str, str]] = {
    "splits": {
        "train": "train.parquet",
        "val": "val.parquet",
        "test": "test.parquet",
        "train_ids": "train_tconst.txt",
        "val_ids": "val_tconst.txt",
        "test_ids": "test_tconst.txt",
        "meta": "split.json",
    },
    "model": {"model": "model.pkl", "info": "train.json", "profile": "reference_profile.json"},
    "evaluation": {
        "metrics": "metrics.json",
        "report": "report.json",
        "predictions": "test_predictions.parquet",
    },
}


@dataclass(frozen=True)
class TaskSpec:
    name: str
    function: str  # wrapper in this module
    inputs: dict[str, str] = field(default_factory=dict)  # argument -> artifact
    outputs: dict[str, str] = field(default_factory=dict)  # external outputs included
    after: tuple[str, ...] = ()  # ordering-only edges (validation gates)
    params: tuple[str, ...] = ()  # config keys that key the cache: "section" or "section.key"
    settings: tuple[str, ...] = ()  # config keys readable but never in the cache key
    description: str = ""
    retries: int = 0  # for steps that talk to remote storage (transient network errors)


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


def catalog(cfg: Config) -> dict[str, Location | External]:
    """Where every artifact of the DAG lives (the only place that says so).

    Files and folders derive from ``paths.*``; outside systems are named by their identity
    (URL without credentials), which keys the producing task's cache.
    """
    from imdbops.dataops.warehouse_backends.base import source_path  # stdlib-only

    p = cfg.paths

    def at(name: str, path: Path) -> Location:
        return Location(name, Path(path), FOLDER_FILES.get(name, {}))

    registry, tracking_access = _registry_identity(cfg)
    lake, lake_access = _lake_identity(cfg, cfg.lake.url)
    remote, remote_access = _lake_identity(cfg, cfg.lake.url.rstrip("/") + "/dvc")
    return {
        "warehouse": at("warehouse", source_path(cfg)),
        "extract": at("extract", p.interim_dir / "extract.parquet"),
        "extract_meta": at("extract_meta", p.interim_dir / "extract.parquet.meta.json"),
        "raw_report": at("raw_report", p.reports_dir / "validation" / "raw.json"),
        "raw_csv": at("raw_csv", p.raw_dir / "movies.csv"),
        "raw_dvc": at("raw_dvc", p.raw_dir / "movies.csv.dvc"),
        "processed": at("processed", p.processed_dir / "movies.parquet"),
        "processed_report": at("processed_report", p.reports_dir / "validation" / "processed.json"),
        "splits": at("splits", p.processed_dir / "splits"),
        "best_params": at("best_params", p.processed_dir / "best_params.json"),
        "model": at("model", p.processed_dir / "model"),
        "evaluation": at("evaluation", p.processed_dir / "evaluation"),
        "registered": at("registered", p.processed_dir / "registered.json"),
        "decision": at("decision", p.processed_dir / "decision.json"),
        "lake_snapshot": External(
            lake,
            "imdbops.dataops.lake_checks:check_lake_object",
            "the raw snapshot in the lake",
            lake_access,
        ),
        "dvc_remote": External(
            remote,
            "imdbops.dataops.lake_checks:check_remote_objects",
            "the versioned data's objects on the DVC remote",
            remote_access,
        ),
        "model_version": External(
            registry,
            "imdbops.mlops.registry_checks:check_model_version",
            "the registered model version",
            tracking_access,
        ),
        "champion_alias": External(
            {**registry, "alias": "champion"},
            "imdbops.mlops.registry_checks:check_alias",
            "the champion alias",
            tracking_access,
        ),
    }


def artifact_paths(cfg: Config) -> dict[str, Path]:
    """The catalog's files and folders as plain paths (external outputs left out)."""
    return {k: v.path for k, v in catalog(cfg).items() if isinstance(v, Location)}


# Identities name a system without credentials, and a folder inside the project as
# ``<root>/...`` so that moving the project folder re-runs nothing. ``access`` (handed to the
# hit check only, never stored) keeps the real URL and options.


def _portable(url: str, cfg: Config) -> str:
    from imdbops.mlops.tracking import public_uri

    return public_uri(url).replace(str(cfg.paths.root), "<root>")


def _registry_identity(cfg: Config) -> tuple[dict[str, str], dict[str, str]]:
    from imdbops.mlops.tracking import public_uri

    uri = cfg.tracking_uri
    identity = {"tracking_uri": _portable(uri, cfg), "model": cfg.tracking.model_name}
    return identity, {"tracking_uri": uri, "display": public_uri(uri)}


def _lake_identity(cfg: Config, url: str) -> tuple[dict[str, str], dict[str, Any]]:
    from imdbops.mlops.tracking import public_uri

    options = dict(cfg.lake.storage_options)
    endpoint = options.get("endpoint_url") or (options.get("client_kwargs") or {}).get(
        "endpoint_url"
    )
    identity = {"url": _portable(url, cfg), "endpoint_url": public_uri(str(endpoint or ""))}
    return identity, {"url": url, "storage_options": options, "display": public_uri(url)}


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


def step_config(cfg: Config, spec: TaskSpec, defined_in: str = DEFINED_IN) -> Any:
    """The read-only view of ``cfg`` a step gets: its params and settings, nothing else."""
    from imdbops.config_view import ConfigView

    return ConfigView(
        cfg,
        (*spec.params, *spec.settings),
        owner=f"task {spec.name!r}",
        hint=DECLARE_HINT.format(task=spec.name, where=defined_in),
    )


def build_tasks(
    cfg: Config,
    specs: tuple[TaskSpec, ...],
    wrappers: dict[str, Any],
    defined_in: str = DEFINED_IN,
) -> list[Task]:
    """Orchestrator Tasks for ``specs`` (``wrappers``: name -> function, e.g. a module's
    ``globals()``): each gets its params in its cache key and its config view. A second DAG
    (batch scoring) builds its tasks the same way with its own specs and catalog."""
    return [
        Task(
            spec.name,
            wrappers[spec.function],
            inputs=spec.inputs,
            outputs=spec.outputs,
            params=task_params(cfg, spec.params),
            after=list(spec.after),
            description=spec.description,
            retries=spec.retries,
            resources={"cfg": step_config(cfg, spec, defined_in)},
        )
        for spec in specs
    ]


def build_dag(cfg: Config, specs: tuple[TaskSpec, ...] = TASK_SPECS) -> DAG:
    """The training DAG for ``cfg``; checking it imports none of the step modules."""
    tasks = build_tasks(cfg, specs, globals())
    return DAG(DAG_NAME, tasks, catalog(cfg), sources=["warehouse"], source_hints=SOURCE_HINTS)


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
            f"({dvc_file_for(Path(raw_csv))}); fix raw_dvc in pipelines.catalog"
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
