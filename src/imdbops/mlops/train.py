"""Task ``train``: fit the final model with the tuned parameters and track the run.

The final model is fitted on the train split only; the validation split drives per-epoch
validation loss (and early stopping inside epoch-wise models) and is *not* folded back in:
refitting on train+val would leave no held-out signal to compare the logged curves against,
and tuning already chose the parameters on exactly this train/val pair.

Outputs in ``out_dir`` (the catalog's ``model`` folder): the model (cloudpickle, internal
hand-over to evaluate/register), ``train.json`` (run id, params, history, lineage) and the
reference profile. :func:`fit` computes, :func:`write_model_dir` writes, :func:`train` logs
to the tracking run around them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.artifact_names import RUN_CONFIG, RUN_SPLIT_DIR
from imdbops.atomic import atomic_path, atomic_write_json
from imdbops.config import Config
from imdbops.failpoints import failpoint
from imdbops.log import get_logger
from imdbops.mlops.reference_profile import build_reference_profile, save_profile
from imdbops.mlops.split import SPLITS, load_split, read_split_meta, split_path
from imdbops.mlops.tracking import check_tracking, data_md5, git_commit, tracked_run
from imdbops.mlops.tune import resolve_spec
from imdbops.orchestrator.catalog import Location, file_in

log = get_logger("mlops.train")


def model_path(model_dir: Location, role: str) -> Path:
    """``model``, ``info`` or ``profile`` of a model folder, as the catalog names them."""
    return file_in(model_dir, role)


def read_params(params_path: Path | None, model: str | None = None) -> dict[str, Any]:
    """Tuned params from ``best_params.json`` ({} when tuning was skipped or was for another
    model: a stale file from a previous ``training.model`` must not leak its parameters)."""
    if params_path is None or not Path(params_path).exists():
        return {}
    data = json.loads(Path(params_path).read_text())
    if model is not None and data.get("model") not in (None, model):
        log.warning(
            "%s holds params for model %r, not %r; using defaults",
            params_path,
            data["model"],
            model,
        )
        return {}
    return dict(data.get("params", {}))


def save_model(model: Any, path: Path) -> Path:
    import cloudpickle

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        cloudpickle.dump(model, fh)
        failpoint("train.before_save")
    return path


def load_model(model_dir: Location) -> Any:
    import cloudpickle

    path = model_path(model_dir, "model")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run the train step first")
    with open(path, "rb") as fh:
        return cloudpickle.load(fh)


def read_train_info(model_dir: Location) -> dict[str, Any]:
    path = model_path(model_dir, "info")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run the train step first")
    return json.loads(path.read_text())


@dataclass
class Fitted:
    """What fitting produced, before anything is written: the model, its per-epoch history,
    its final losses and fit time, and the reference profile of its training rows."""

    pipeline: Any
    history: list[dict[str, float]]
    metrics: dict[str, float]  # train_loss, val_loss, fit_seconds
    profile: dict[str, Any]


def fit(
    spec: Any,
    params: dict[str, Any],
    seed: int,
    train_rows: tuple[Any, Any],
    val_rows: tuple[Any, Any],
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> Fitted:
    """Fit ``spec`` on ``train_rows`` (X, y), with validation loss per epoch on ``val_rows``;
    writes nothing.
    ``on_epoch(epoch, values)`` sees each epoch's values as they come (to log them)."""
    from sklearn.metrics import log_loss

    (X_train, y_train), (X_val, y_val) = train_rows, val_rows
    history: list[dict[str, float]] = []

    def record(epoch: int, values: dict[str, float]) -> None:
        history.append({"epoch": epoch, **values})
        if on_epoch is not None:
            on_epoch(epoch, values)

    started = time.perf_counter()
    pipeline = spec.build(params, seed)
    spec.fit(pipeline, X_train, y_train, X_val, y_val, on_epoch=record)
    fit_seconds = time.perf_counter() - started
    train_proba = pipeline.predict_proba(X_train)[:, 1]
    val_proba = pipeline.predict_proba(X_val)[:, 1]
    metrics = {
        "train_loss": float(log_loss(y_train, train_proba, labels=[0, 1])),
        "val_loss": float(log_loss(y_val, val_proba, labels=[0, 1])),
        "fit_seconds": fit_seconds,
    }
    # What the training data looked like: monitoring compares live traffic with it.
    profile = build_reference_profile(X_train, train_proba)
    return Fitted(pipeline, history, metrics, profile)


def write_model_dir(out_dir: Location, fitted: Fitted, record: dict[str, Any]) -> dict[str, Any]:
    """Write the model folder (model, reference profile, then ``train.json`` holding
    ``record`` and the fit's history and metrics); returns what ``train.json`` holds."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    save_model(fitted.pipeline, model_path(out_dir, "model"))
    profile = save_profile(fitted.profile, model_path(out_dir, "profile"))
    info = {
        "run_id": record["run_id"],
        "model_kind": record["model_kind"],
        "params": record["params"],
        "history": fitted.history,
        "metrics": fitted.metrics,
        "trained_at": clock.now().isoformat(timespec="seconds"),
        "reference_profile": str(profile),
        "splits_dir": record["splits_dir"],
        **record["lineage"],
    }
    atomic_write_json(model_path(out_dir, "info"), info)
    return info


def train(
    cfg: Config,
    splits_dir: Location,
    params_path: Path | None,
    out_dir: Location,
    raw_csv: Path | None = None,
) -> dict[str, Any]:
    """Fit, log params/epoch metrics/config/split artifacts to MLflow, write ``out_dir``.

    ``raw_csv``: the versioned raw data this model descends from (its md5 is the
    ``data_md5`` lineage tag); the catalog's ``raw_csv`` when not given.
    """
    spec, params = resolve_spec(cfg, read_params(params_path, cfg.training.model))
    check_tracking(cfg)
    meta = read_split_meta(splits_dir)
    _, X_train, y_train = load_split(splits_dir, "train")
    _, X_val, y_val = load_split(splits_dir, "val")

    lineage = {
        "data_md5": data_md5(cfg, Path(raw_csv) if raw_csv else None),
        "git_commit": git_commit(),
        "model_kind": spec.name,
        "split_md5": meta["split_md5"],
        "test_md5": meta["test_md5"],
    }
    tags = {"imdbops.step": "train", **lineage}
    # evaluate() and register() later add test metrics and the model to this same run.
    with tracked_run(cfg, run_name=f"train-{spec.name}", tags=tags) as run:
        _log_inputs(run, cfg, spec.name, params, splits_dir)
        fitted = fit(
            spec,
            params,
            cfg.training.seed,
            (X_train, y_train),
            (X_val, y_val),
            on_epoch=_epoch_logger(run),
        )
        for key, value in fitted.metrics.items():
            run.client.log_metric(run.run_id, f"final_{key}", value)
        record = {
            "run_id": run.run_id,
            "model_kind": spec.name,
            "params": params,
            "splits_dir": str(splits_dir),
            "lineage": lineage,
        }
        info = write_model_dir(out_dir, fitted, record)
    log.info(
        "trained %s in %.1fs: train loss %.4f, val loss %.4f (run %s)",
        spec.name,
        fitted.metrics["fit_seconds"],
        fitted.metrics["train_loss"],
        fitted.metrics["val_loss"],
        run.run_id,
    )
    return info


def _log_inputs(
    run: Any, cfg: Config, model: str, params: dict[str, Any], splits_dir: Location
) -> None:
    """The run's params, its redacted config and the split folder's meta and id lists."""
    client, run_id = run.client, run.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value)
    client.log_param(run_id, "model", model)
    client.log_param(run_id, "seed", cfg.training.seed)
    client.log_dict(run_id, cfg.redacted(), RUN_CONFIG)
    client.log_artifact(run_id, str(split_path(splits_dir, "meta")), RUN_SPLIT_DIR)
    for name in SPLITS:
        client.log_artifact(run_id, str(split_path(splits_dir, f"{name}_ids")), RUN_SPLIT_DIR)


def _epoch_logger(run: Any) -> Callable[[int, dict[str, float]], None]:
    def log_epoch(epoch: int, values: dict[str, float]) -> None:
        stamp = int(time.time() * 1000)
        for key, value in values.items():
            run.client.log_metric(run.run_id, key, float(value), timestamp=stamp, step=epoch)

    return log_epoch
