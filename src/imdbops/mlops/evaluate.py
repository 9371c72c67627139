"""Task ``evaluate``: score the trained model once on the test split, beside two baselines.

The test split's random holdout gives the ``test_*`` metrics; with an out-of-time holdout
(``training.out_of_time_years``) its newest-years rows give ``oot_*`` beside them.

Baselines are fitted on the same train split and scored on the same test rows: the
majority class (the floor: ROC-AUC 0.5) and the word+char TF-IDF + genres logistic
regression with its default (validation-tuned) parameters. Their metrics are stored as
``baseline_majority_*`` and ``baseline_logreg_*``, and the model is scored a second time on
title + genres only (``title_genres_*``, year/runtime blanked) so every run shows, like for
like, whether the model earns its complexity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imdbops.artifact_names import RUN_EVALUATION_DIR
from imdbops.atomic import atomic_path, atomic_write_json
from imdbops.config import Config
from imdbops.genres import IMDB_GENRES
from imdbops.log import get_logger
from imdbops.mlops.metrics import (
    behavioural_checks,
    binary_metrics,
    detailed_report,
    per_genre_metrics,
)
from imdbops.mlops.split import holdout_masks, load_split, read_split_meta
from imdbops.mlops.train import load_model, read_train_info
from imdbops.movies import NUMERIC_INPUTS
from imdbops.orchestrator.catalog import Location, file_in

log = get_logger("mlops.evaluate")

BASELINES = ("majority", "logreg")
PLOTS_DIR = "plots"  # inside the evaluation folder (and the run's evaluation artifacts)


def evaluation_path(eval_dir: Location, role: str) -> Path:
    """``metrics``, ``report`` or ``predictions`` of an evaluation folder (catalog names)."""
    return file_in(eval_dir, role)


def baseline_metrics(
    cfg: Config, X_train, y_train, X_test, y_test, names: tuple[str, ...] = BASELINES
) -> dict[str, float]:
    from imdbops.mlops.models import get_spec

    out: dict[str, float] = {}
    for name in names:
        spec = get_spec(name)
        pipeline = spec.build({}, cfg.training.seed)
        spec.fit(pipeline, X_train, y_train)
        scores = binary_metrics(y_test, pipeline.predict_proba(X_test)[:, 1])
        out.update({f"baseline_{name}_{k}": v for k, v in scores.items()})
    return out


@dataclass
class Evaluation:
    """One scoring of a model on the test split, before anything is written."""

    metrics: dict[str, float]  # flat numbers: test_*, oot_*, title_genres_*, baseline_*, check_*
    report: dict[str, Any]
    predictions: pd.DataFrame  # every test row: tconst, label, proba, holdout
    y_test: np.ndarray  # the random holdout's labels and probabilities (for the plots)
    proba: np.ndarray


def score_test(cfg: Config, model: Any, info: dict[str, Any], splits_dir: Location) -> Evaluation:
    """Score ``model`` on the test split beside the baselines; writes nothing."""
    _, X_train, y_train = load_split(splits_dir, "train")
    test_all, X_all, y_all = load_split(splits_dir, "test")
    holdouts = holdout_masks(test_all, read_split_meta(splits_dir))
    proba_all = model.predict_proba(X_all)[:, 1]
    # ``test_*`` is the random holdout; the out-of-time one (when on) is ``oot_*`` beside it.
    out_of_time = _out_of_time_metrics(y_all, proba_all, holdouts["time"])
    random_rows = holdouts["random"]
    test = test_all[random_rows].reset_index(drop=True)
    X_test = X_all[random_rows].reset_index(drop=True)
    y_test = y_all[random_rows]
    proba = proba_all[random_rows]
    metrics = {f"test_{k}": v for k, v in binary_metrics(y_test, proba).items()}
    metrics["test_rows"] = float(len(y_test))
    metrics.update(out_of_time)
    # The baselines see title + genres only; scoring the model on that same input too keeps
    # the comparison like for like (the record's numbers are optional inputs at serving time).
    text_only = X_test.assign(**dict.fromkeys(NUMERIC_INPUTS, np.nan))
    blank_proba = model.predict_proba(text_only)[:, 1]
    metrics.update({f"title_genres_{k}": v for k, v in binary_metrics(y_test, blank_proba).items()})
    metrics.update(baseline_metrics(cfg, X_train, y_train, X_test, y_test))
    sample = test["title"].astype(str).head(200).tolist()
    behaviour = behavioural_checks(model, sample, IMDB_GENRES)
    for check, result in behaviour.items():
        metrics[f"check_{check}_passed"] = float(result["passed"])
    report = {
        **detailed_report(y_test, proba),
        "per_genre": per_genre_metrics(test["genres"], y_test, proba),
        "behaviour": behaviour,
        "model_kind": info["model_kind"],
        "run_id": info["run_id"],
    }
    predictions = pd.DataFrame(
        {
            "tconst": test_all["tconst"],
            "label": y_all,
            "proba": proba_all,
            "holdout": np.where(holdouts["time"], "time", "random"),
        }
    )
    return Evaluation(metrics, report, predictions, y_test, proba)


def write_evaluation(out_dir: Location, evaluation: Evaluation) -> dict[str, Path]:
    """Write the evaluation folder: predictions, plots, the report, then the metrics (the
    file the next steps read, last); returns the plots written, by name."""
    from imdbops.mlops.plots import write_plots

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with atomic_path(evaluation_path(out_dir, "predictions")) as tmp:
        evaluation.predictions.to_parquet(tmp, index=False)
    plots = write_plots(evaluation.y_test, evaluation.proba, Path(out_dir) / PLOTS_DIR)
    atomic_write_json(evaluation_path(out_dir, "report"), evaluation.report)
    atomic_write_json(evaluation_path(out_dir, "metrics"), evaluation.metrics)
    return plots


def evaluate(
    cfg: Config,
    model_dir: Location,
    splits_dir: Location,
    out_dir: Location,
) -> dict[str, Any]:
    """Write ``metrics.json`` (flat numbers), ``report.json``, predictions and plots, and
    log them to the training run."""
    started = time.perf_counter()
    info = read_train_info(model_dir)
    evaluation = score_test(cfg, load_model(model_dir), info, splits_dir)
    plots = write_evaluation(out_dir, evaluation)
    _log_to_run(cfg, info["run_id"], out_dir, evaluation.metrics, plots)
    metrics = evaluation.metrics
    failed = [k for k, r in evaluation.report["behaviour"].items() if not r["passed"]]
    if failed:
        log.warning("behavioural checks failed: %s", failed)
    log.info(
        "test ROC-AUC %.4f (%.4f on title + genres only; logreg baseline %.4f, majority %.4f), "
        "accuracy %.4f in %.1fs",
        metrics["test_roc_auc"],
        metrics["title_genres_roc_auc"],
        metrics["baseline_logreg_roc_auc"],
        metrics["baseline_majority_roc_auc"],
        metrics["test_accuracy"],
        time.perf_counter() - started,
    )
    return metrics


def _log_to_run(
    cfg: Config,
    run_id: str,
    out_dir: Location,
    metrics: dict[str, float],
    plots: dict[str, Path],
) -> None:
    """The finite metrics, the metrics and report files and the plots, into the run."""
    from imdbops.mlops.tracking import get_client

    client = get_client(cfg)
    stamp = int(time.time() * 1000)
    for key, value in metrics.items():
        if np.isfinite(value):
            client.log_metric(run_id, key, float(value), timestamp=stamp)
    client.log_artifact(run_id, str(evaluation_path(out_dir, "metrics")), RUN_EVALUATION_DIR)
    client.log_artifact(run_id, str(evaluation_path(out_dir, "report")), RUN_EVALUATION_DIR)
    for path in plots.values():
        client.log_artifact(run_id, str(path), f"{RUN_EVALUATION_DIR}/{PLOTS_DIR}")


def _out_of_time_metrics(y, proba, rows) -> dict[str, float]:
    if not rows.any():
        return {}
    out = {f"oot_{k}": v for k, v in binary_metrics(y[rows], proba[rows]).items()}
    out["oot_rows"] = float(rows.sum())
    return out


def comparison_table(metrics: dict[str, float]) -> list[tuple[str, float, float, float, float]]:
    """(metric, model, model on title+genres only, logreg baseline, majority) rows."""
    keys = ("roc_auc", "pr_auc", "accuracy", "balanced_accuracy", "f1", "loss", "brier")
    return [
        (
            k,
            metrics.get(f"test_{k}", float("nan")),
            metrics.get(f"title_genres_{k}", float("nan")),
            metrics.get(f"baseline_logreg_{k}", float("nan")),
            metrics.get(f"baseline_majority_{k}", float("nan")),
        )
        for k in keys
    ]
