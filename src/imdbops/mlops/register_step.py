"""Task ``register``: log the trained, evaluated model to its MLflow run and register it."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from imdbops.artifact_names import RUN_PROFILE, RUN_SPLIT_DIR, file_name
from imdbops.atomic import atomic_write_json
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.evaluate import evaluation_path
from imdbops.mlops.lineage import lineage_tags
from imdbops.mlops.registry import ModelVersionInfo, log_model_version
from imdbops.mlops.split import SPLITS, load_split, split_path
from imdbops.mlops.tracking import get_client
from imdbops.mlops.train import load_model, model_path, read_train_info
from imdbops.orchestrator.catalog import Location

log = get_logger("mlops.register")


def register(
    cfg: Config,
    model_dir: Location,
    eval_dir: Location,
    *,
    splits_dir: Location,
    out_path: Path | None = None,
) -> ModelVersionInfo:
    """Register ``model_dir``'s model with lineage tags; writes ``registered.json``.

    ``out_path`` defaults to ``<model_dir>/registered.json``; ``splits_dir`` is the split
    folder training read (its catalog Location, which names its files). When training's
    MLflow run is not in this store (``tracking.uri`` moved to another server since), the
    model is logged to a new run there.
    """
    info = read_train_info(model_dir)
    metrics_path = evaluation_path(eval_dir, "metrics")
    if not metrics_path.exists():
        raise FileNotFoundError(f"{metrics_path} does not exist; run the evaluate step first")
    metrics: dict[str, float] = json.loads(metrics_path.read_text())
    model = load_model(model_dir)
    _, X_val, _ = load_split(splits_dir, "val")
    # The genre vocabulary from the declared splits input, not from whatever the training
    # run logged (that run may live in another tracking store).
    train_rows, _, _ = load_split(splits_dir, "train")
    tags = {
        "data_md5": info["data_md5"],
        "git_commit": info["git_commit"],
        "trained_at": info["trained_at"],
        "model_kind": info["model_kind"],
        "split_md5": info["split_md5"],
        "test_md5": info["test_md5"],
        "test_roc_auc": f"{metrics.get('test_roc_auc', float('nan')):.6f}",
        **lineage_tags(info["params"]),
    }
    artifacts: dict[str, Path] = {}
    profile = model_path(model_dir, "profile")
    if profile.exists():
        artifacts[RUN_PROFILE] = profile
    else:
        log.warning("no %s in %s; monitoring will have no reference", RUN_PROFILE, model_dir)
    report = evaluation_path(eval_dir, "report")
    artifacts[report.name] = report
    same_run = _run_exists(cfg, info["run_id"])
    with tempfile.TemporaryDirectory() as staged:
        if not same_run:  # a new run must carry the membership the promotion gate reads
            artifacts[RUN_SPLIT_DIR] = _stage_split_ids(splits_dir, Path(staged))
        result = log_model_version(
            cfg,
            model,
            metrics={k: v for k, v in metrics.items() if v == v},  # NaN cannot be logged
            params={k: v for k, v in info["params"].items()},
            tags=tags,
            artifacts=artifacts,
            input_example=X_val.head(5),
            run_id=info["run_id"] if same_run else None,
            training_frame=train_rows,
        )
    target = Path(out_path) if out_path else Path(model_dir) / file_name("registered")
    payload: dict[str, Any] = {
        **result.__dict__,
        "splits_dir": str(splits_dir or info["splits_dir"]),
    }
    atomic_write_json(target, payload)
    return result


def _stage_split_ids(splits: Location, folder: Path) -> Path:
    for role in ("meta", *(f"{name}_ids" for name in SPLITS)):
        source = split_path(splits, role)
        shutil.copyfile(source, folder / source.name)
    return folder


def _run_exists(cfg: Config, run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        get_client(cfg).get_run(run_id)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            log.warning("training run %s is not in this tracking store; logging a new run", run_id)
            return False
        raise
    return True
