"""Task ``register``: log the trained, evaluated model to its MLflow run and register it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imdbops.atomic import atomic_write_json
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.evaluate import METRICS_JSON, REPORT_JSON
from imdbops.mlops.lineage import lineage_tags
from imdbops.mlops.reference_profile import PROFILE_FILENAME
from imdbops.mlops.registry import ModelVersionInfo, log_model_version
from imdbops.mlops.split import load_split
from imdbops.mlops.train import load_model, read_train_info

log = get_logger("mlops.register")

REGISTERED_JSON = "registered.json"


def register(
    cfg: Config, model_dir: Path, eval_dir: Path, out_path: Path | None = None
) -> ModelVersionInfo:
    """Register ``model_dir``'s model with lineage tags; writes ``registered.json``.

    ``out_path`` defaults to ``<model_dir>/registered.json``.
    """
    info = read_train_info(model_dir)
    metrics_path = Path(eval_dir) / METRICS_JSON
    if not metrics_path.exists():
        raise FileNotFoundError(f"{metrics_path} does not exist; run the evaluate step first")
    metrics: dict[str, float] = json.loads(metrics_path.read_text())
    model = load_model(model_dir)
    _, X_val, _ = load_split(Path(info["splits_dir"]), "val")
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
    profile = Path(model_dir) / PROFILE_FILENAME
    if profile.exists():
        artifacts[PROFILE_FILENAME] = profile
    else:
        log.warning("no %s in %s; monitoring will have no reference", PROFILE_FILENAME, model_dir)
    artifacts[REPORT_JSON] = Path(eval_dir) / REPORT_JSON
    result = log_model_version(
        cfg,
        model,
        metrics={k: v for k, v in metrics.items() if v == v},  # NaN cannot be logged
        params={k: v for k, v in info["params"].items()},
        tags=tags,
        artifacts=artifacts,
        input_example=X_val.head(5),
        run_id=info["run_id"],
    )
    target = Path(out_path) if out_path else Path(model_dir) / REGISTERED_JSON
    payload: dict[str, Any] = {**result.__dict__, "splits_dir": info["splits_dir"]}
    atomic_write_json(target, payload)
    return result
