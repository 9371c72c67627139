"""One Config for the whole project: a YAML file plus ``IMDBOPS_*`` environment variables.

Every path and URL the code uses derives from here, so moving from a laptop to real
infrastructure is a change of configuration, never of code. Relative paths resolve against
``paths.root`` (default: the current directory).

Precedence (highest first): explicit overrides, environment (``IMDBOPS_SECTION__KEY``),
the YAML file (``--config``, ``IMDBOPS_CONFIG`` or ``./imdbops.yaml``), defaults.
"""

from __future__ import annotations

import hashlib
import json
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from imdbops.redaction import redact_mapping

CONFIG_ENV = "IMDBOPS_CONFIG"
DEFAULT_CONFIG_FILE = "imdbops.yaml"
ENV_PREFIX = "IMDBOPS_"
ENV_DELIMITER = "__"


class _Section(BaseModel):
    # A misspelt key must fail loudly, not silently run with the default.
    model_config = ConfigDict(extra="forbid")


class ConfigError(ValueError):
    """The configuration is invalid; the message says which key and how to fix it."""


class PathsConfig(_Section):
    root: Path = Path(".")
    data_dir: Path = Path("data")
    raw_dir: Path = Path("data/raw")
    interim_dir: Path = Path("data/interim")
    processed_dir: Path = Path("data/processed")
    reports_dir: Path = Path("reports")
    runs_dir: Path = Path("runs")
    logs_dir: Path = Path("logs")
    state_dir: Path = Path(".imdbops")
    cache_dir: Path = Path(".imdbops/cache")
    # Empty: run manifests, cache records and artifacts stay in the folders above. An fsspec
    # URL (s3://bucket/prefix) puts them all there, so each task can run on another machine
    # in an empty folder (docs/multi-machine.md). Credentials come from the environment.
    artifacts_url: str = ""
    # Non-secret fsspec options for artifacts_url, e.g. {"endpoint_url": "http://minio:9000"}.
    artifacts_storage_options: dict[str, Any] = Field(default_factory=dict)


class PipelineConfig(_Section):
    # A second `pipeline run`/`resume` of a DAG (on this machine, or on any machine sharing
    # paths.artifacts_url) waits this long for the first to end, then refuses; 0 refuses at once.
    lease_wait_s: float = Field(default=0.0, ge=0)
    # With paths.artifacts_url: the run's lease in the store expires this long after its
    # holder stopped renewing it (died), when another machine may take it over.
    lease_ttl_s: float = Field(default=60.0, gt=0)


class WarehouseConfig(_Section):
    # duckdb: the embedded file at `path`; postgres: a server (host, port, database, user
    # below; the password from IMDBOPS_WAREHOUSE_PASSWORD only). See docs/warehouse.md.
    backend: Literal["duckdb", "postgres"] = "duckdb"
    path: Path = Path("data/warehouse.duckdb")
    host: str = "127.0.0.1"
    port: int = 5432
    database: str = "imdb"
    user: str = "imdbops"
    connect_timeout: int = 10
    # Schemas: raw tables (every backend) and the dbt model (servers; DuckDB uses main).
    raw_schema: str = "raw"
    model_schema: str = "analytics"
    # dbt target in the profiles; empty means the backend's name (duckdb, postgres).
    dbt_target: str = ""
    # Use your own dbt profiles folder instead of the bundled one.
    dbt_profiles_dir: Path | None = None
    # Extract: a full SQL query overrides everything below.
    extract_query: str | None = None
    min_year: int | None = None
    max_rows: int | None = None
    # The reference project's stricter filters (genres and runtime required).
    strict_filters: bool = False


class LakeConfig(_Section):
    # A local folder (default) or an fsspec URL: s3://bucket/prefix, gs://bucket/prefix.
    url: str = "data/lake"
    # Extra fsspec options (e.g. endpoint_url for an S3-compatible server). Credentials come
    # from the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS), never from here.
    storage_options: dict[str, Any] = Field(default_factory=dict)


class ValidationConfig(_Section):
    # Distribution check against the last accepted dataset: warn above, fail above.
    row_change_warn: float = 0.10
    row_change_fail: float = 0.50
    label_shift_warn: float = 0.05
    label_shift_fail: float = 0.15
    null_rate_warn: float = 0.30
    null_rate_fail: float = 0.45
    max_examples: int = 5


class TrackingConfig(_Section):
    # Empty means the embedded default: SQLite under state_dir + a local artifact folder.
    uri: str = ""
    artifact_dir: Path = Path(".imdbops/mlartifacts")
    experiment: str = "imdbops"
    model_name: str = "imdb-movie-like"
    # A promotion's lock in the tracking server lapses this long after its last renewal when
    # its holder died (or lost the server): the next promotion waits at most this long.
    promotion_lock_lease_s: float = Field(default=60.0, gt=0)


class TrainingConfig(_Section):
    model: str = "default"
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 42
    val_size: float = 0.15
    test_size: float = 0.15
    # The newest N release years go to test only (the out-of-time holdout); 0 turns it off.
    out_of_time_years: int = Field(default=0, ge=0)
    # Tuning budget: whichever of trials / seconds is hit first.
    n_trials: int = 12
    timeout_s: float | None = 120.0
    # Promotion gate.
    primary_metric: str = "roc_auc"
    min_margin_over_baseline: float = 0.05
    regression_tolerance: float = 0.005
    bootstrap_samples: int = 1000
    bootstrap_alpha: float = 0.05
    # Which test rows the gate compares on (docs/training.md): the random holdout, or the
    # out-of-time one (needs out_of_time_years > 0).
    gate_holdout: Literal["random", "time"] = "random"
    # Fewer common unseen test rows than this: HOLD, the comparison would be noise.
    min_compare_rows: int = Field(default=200, ge=1)
    # Live-evidence policy (docs/shadow.md): > 0 makes the gate require the challenger to
    # have shadowed the champion on at least this many titles rated since, and not be worse
    # there with confidence (CI low of the difference >= -live_tolerance). 0 turns it off.
    live_min_titles: int = Field(default=0, ge=0)
    live_tolerance: float = Field(default=0.005, ge=0.0)

    @field_validator("val_size", "test_size")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0 < v < 0.5:
            raise ValueError("must be a fraction between 0 and 0.5, e.g. 0.15")
        return v

    @model_validator(mode="after")
    def _time_gate_needs_holdout(self) -> TrainingConfig:
        if self.gate_holdout == "time" and self.out_of_time_years == 0:
            raise ValueError(
                "gate_holdout 'time' needs an out-of-time holdout: set out_of_time_years, e.g. 2"
            )
        return self


class ServingConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    admin_token: SecretStr | None = None
    reload_poll_s: float = 10.0
    max_items: int = 1000
    max_body_bytes: int = 1_000_000
    # Micro-batching of concurrent requests into one model call. 512 rows: four clients
    # sending 100-item requests share one call per round; at 256 they settled into
    # 200-row calls (one fixed per-call cost more per 200 rows: 66 vs 85 req/s on 2 cores).
    batch_max_size: int = 512
    batch_max_wait_ms: float = 2.0
    # Shadow scoring (docs/shadow.md): registered versions or aliases (e.g. "challenger")
    # that score every answered request in a separate process, into the shadow log.
    # Records handed to it and not yet scored are bounded by shadow_queue_max, and the pipe
    # they go through holds shadow_pipe_bytes (Linux caps it at /proc/sys/fs/pipe-max-size,
    # 1 MiB by default); beyond either, shadow work is dropped (counted), never waited for.
    shadow: list[str] = Field(default_factory=list)
    shadow_queue_max: int = Field(default=20_000, ge=1)
    shadow_batch_max: int = Field(default=256, ge=1)
    shadow_pipe_bytes: int = Field(default=1 << 20, ge=4096)
    # The shadow process's CPU priority: "idle" (Linux SCHED_IDLE: only CPU nothing else
    # wants; else nice 19), "nice" (nice 19: a small share even when the CPU is busy),
    # "normal" (competes with the requests as an equal).
    shadow_priority: Literal["idle", "nice", "normal"] = "idle"
    # Canary: this share of titles (sticky: a hash of the tconst, else the title) is answered
    # by the `canary` version or alias instead of the champion; 0 turns it off.
    canary_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    canary: str = "challenger"


class MonitoringConfig(_Section):
    enabled: bool = True
    prediction_log_dir: Path = Path("data/predictions")
    flush_interval_s: float = 1.0
    flush_max_records: int = 1000
    # Answered predictions go to a write-ahead segment file before the response, so a
    # killed server loses none (docs/prediction-log.md); false keeps them in memory only.
    write_ahead: bool = True
    # fsync the segments this often, bounding what a power failure (not a killed process)
    # can lose; None leaves write-back to the kernel.
    fsync_interval_s: float | None = None
    # Ship every finished Parquet part to this fsspec URL (s3://bucket/predictions), so the
    # monitors on other machines see every replica's log; empty keeps the log local only.
    prediction_log_url: str = ""
    # Non-secret fsspec options for prediction_log_url (e.g. endpoint_url); credentials
    # come from the environment (AWS_*), never from here.
    prediction_log_storage_options: dict[str, Any] = Field(default_factory=dict)
    # Remove local day partitions more than this many days old (kept until shipped when
    # prediction_log_url is set); None keeps the log for ever.
    log_retention_days: int | None = Field(default=None, ge=1)
    window_hours: float | None = None
    window_predictions: int | None = 5000
    drift_threshold: float = 0.5
    # Share of predictions carrying genres the serving model never saw (any, and per genre)
    # above which the drift job reports drift with reason "unknown_genres".
    unknown_genre_threshold: float = Field(default=0.1, ge=0, le=1)
    reports_dir: Path = Path("reports/monitoring")
    # Delayed ground truth (`monitor performance`): a version whose ROC-AUC on titles rated
    # since they were scored fell more than this below its test ROC-AUC is a verdict.
    performance_drop: float = Field(default=0.05, ge=0.0, le=1.0)
    performance_min_rows: int = Field(default=50, ge=1)
    # Judge only predictions scored in the last N days (of the clock): the report's cost
    # then stays flat as history grows; None judges every stored prediction.
    performance_window_days: int | None = Field(default=None, ge=1)
    # Where the shadow versions' records go (same layout and guarantees as the log above;
    # shipped to <prediction_log_url>/_shadow when that is set).
    shadow_log_dir: Path = Path("data/predictions-shadow")

    @field_validator("fsync_interval_s")
    @classmethod
    def _positive_interval(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("must be a number of seconds > 0 (e.g. 1.0), or null for never")
        return v


class RetentionConfig(_Section):
    # What `imdbops gc` keeps (docs/gc.md). Whatever the numbers, gc never removes what the
    # champion (any alias), a resumable run or `model reproduce` of a kept version needs.
    # Registered versions whose artifacts stay: the newest N, plus any younger than
    # keep_version_days. Older ones are archived: the model files go, the version, its
    # lineage tags and its run's metrics stay.
    keep_versions: int = Field(default=5, ge=1)
    keep_version_days: int | None = Field(default=None, ge=1)
    # Run manifests kept per DAG (newest first); with paths.artifacts_url, artifact versions
    # no kept run or cache record names are removed with them.
    keep_runs: int = Field(default=20, ge=1)
    # Drift report folders (<monitoring.reports_dir>/<run_id>/, ~4 MiB each) and performance
    # reports kept, newest first; `monitor run` applies it after each report too.
    keep_reports: int = Field(default=168, ge=1)
    # Log files of commands and servers (<paths.logs_dir>/<stamp>-<command>-<pid>.jsonl, one
    # per invocation) kept, newest first; none younger than min_age_hours (a live server
    # may still be writing it).
    keep_logs: int = Field(default=200, ge=1)
    # Never remove an artifact version younger than this from paths.artifacts_url (a task on
    # another machine, which takes no lock here, may be publishing it), nor such a log file.
    min_age_hours: float = Field(default=1.0, ge=0)
    # Run `imdbops gc` at the end of every successful `imdbops pipeline run`.
    gc_after_run: bool = False


_PATH_FIELDS: dict[str, tuple[str, ...]] = {
    "paths": tuple(
        f
        for f in PathsConfig.model_fields
        if f not in ("root", "artifacts_url", "artifacts_storage_options")
    ),
    "warehouse": ("path", "dbt_profiles_dir"),
    "tracking": ("artifact_dir",),
    "monitoring": ("prediction_log_dir", "reports_dir", "shadow_log_dir"),
}


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    paths: PathsConfig = Field(default_factory=PathsConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    lake: LakeConfig = Field(default_factory=LakeConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Config:
        root = self.paths.root.expanduser().resolve()
        self.paths.root = root
        for section, fields in _PATH_FIELDS.items():
            obj = getattr(self, section)
            for name in fields:
                value = getattr(obj, name)
                if value is not None and not Path(value).is_absolute():
                    setattr(obj, name, root / value)
        for obj, name in ((self.lake, "url"), (self.paths, "artifacts_url")):
            url = getattr(obj, name)
            if url and "://" not in url and not Path(url).is_absolute():
                setattr(obj, name, str(root / url))
        return self

    # ---- derived values -------------------------------------------------------------
    @property
    def optuna_db(self) -> Path:
        """The Optuna studies' SQLite file: ``tune`` writes it, ``gc`` prunes its studies."""
        return self.paths.state_dir / "optuna.db"

    @property
    def tracking_uri(self) -> str:
        if self.tracking.uri:
            return self.tracking.uri
        return f"sqlite:///{self.paths.state_dir / 'mlflow.db'}"

    @property
    def dbt_project_dir(self) -> Path:
        return Path(__file__).parent / "dbt"

    def redacted(self) -> dict[str, Any]:
        """The resolved config as plain data, with every secret replaced by ``***``."""
        return redact_mapping(self.model_dump(mode="json"))

    def fingerprint(self) -> str:
        """A stable hash of the redacted config (for run manifests and cache keys)."""
        blob = json.dumps(self.redacted(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def ensure_dirs(self) -> None:
        for name in _PATH_FIELDS["paths"]:
            getattr(self.paths, name).mkdir(parents=True, exist_ok=True)


def _is_structured(annotation: Any) -> bool:
    """Dicts, lists and models arrive from the environment as JSON."""
    origin = typing.get_origin(annotation) or annotation
    return origin in (dict, list) or (isinstance(origin, type) and issubclass(origin, BaseModel))


def env_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Config values from ``IMDBOPS_SECTION__KEY`` variables, as nested section dicts.

    Unlike a generic settings loader this refuses a variable that names no setting, so a
    typo in a manifest (``IMDBOPS_TRAINING__MODLE``) fails at start-up instead of quietly
    running with the default. ``IMDBOPS_*`` names without ``__`` that are not sections
    (``IMDBOPS_CONFIG``, ``IMDBOPS_FAILPOINTS``…) belong to other features and are skipped.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    sections = Config.model_fields
    for name, raw in sorted(environ.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split(ENV_DELIMITER)
        section = parts[0]
        if section not in sections:
            if len(parts) > 1:
                raise ConfigError(
                    f"environment variable {name} names no config section; "
                    f"sections are: {', '.join(sections)}"
                )
            continue
        if len(parts) == 1:
            _merge_into(data, {section: _decode_env(name, raw, dict)})
            continue
        fields = sections[section].annotation.model_fields
        key = parts[1]
        if key not in fields:
            raise ConfigError(
                f"environment variable {name} names no setting of [{section}]; "
                f"its keys are: {', '.join(fields)}"
            )
        annotation = fields[key].annotation
        if len(parts) == 2:
            value = _decode_env(name, raw, annotation)
        elif typing.get_origin(annotation) is dict:
            value = raw  # IMDBOPS_LAKE__STORAGE_OPTIONS__ENDPOINT_URL=…: one key of a dict
            for part in reversed(parts[2:]):
                value = {part: value}
        else:
            raise ConfigError(f"environment variable {name}: {section}.{key} has no sub-keys")
        _merge_into(data, {section: {key: value}})
    return data


def _decode_env(name: str, raw: str, annotation: Any) -> Any:
    if not _is_structured(annotation):
        return raw  # pydantic coerces "11" to an int, "true" to a bool, and so on
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"environment variable {name} must hold JSON here: {exc}") from None


def _merge_into(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into ``base``: a section set in two places keeps both keys."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge_into(base[key], value)
        elif isinstance(value, Mapping):
            base[key] = _merge_into({}, value)
        else:
            base[key] = value
    return base


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # only when there is a file: keeps CLI start-up short

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(
            f"config file {path} does not exist; create it or unset {CONFIG_ENV}"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of sections, got {type(data).__name__}"
        )
    return data


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Load the config: ``path`` or ``$IMDBOPS_CONFIG`` or ``./imdbops.yaml`` if present.

    ``overrides`` are section dicts, e.g. ``load_config(paths={"root": tmp})``.
    """
    from pydantic import ValidationError

    if path is None and os.environ.get(CONFIG_ENV):
        path = os.environ[CONFIG_ENV]
    if path is None and Path(DEFAULT_CONFIG_FILE).exists():
        path = DEFAULT_CONFIG_FILE
    data = _read_yaml(Path(path)) if path is not None else {}
    _merge_into(data, env_settings())
    _merge_into(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid configuration ({problems}); every setting is listed in docs/configuration.md"
        ) from None
