"""Evaluation plots as PNG files (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imdbops.atomic import atomic_path
from imdbops.movies import LIKE_THRESHOLD, predicted_labels


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return path


def write_plots(y_true: np.ndarray, proba: np.ndarray, out_dir: Path) -> dict[str, Path]:
    """ROC, precision-recall, confusion matrix and calibration plots; returns name -> path."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (
        ConfusionMatrixDisplay,
        PrecisionRecallDisplay,
        RocCurveDisplay,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    try:
        fig, ax = plt.subplots(figsize=(5, 5))
        RocCurveDisplay.from_predictions(y_true, proba, ax=ax, name="model")
        ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
        ax.set_title("ROC curve (test)")
        paths["roc"] = _save(fig, out_dir / "roc.png")
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(5, 5))
        PrecisionRecallDisplay.from_predictions(y_true, proba, ax=ax, name="model")
        ax.axhline(float(np.mean(y_true)), ls="--", color="grey", label="prevalence")
        ax.set_title("Precision-recall (test)")
        paths["precision_recall"] = _save(fig, out_dir / "precision_recall.png")
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(5, 5))
        ConfusionMatrixDisplay.from_predictions(
            y_true, predicted_labels(proba), ax=ax, display_labels=["not liked", "liked"]
        )
        ax.set_title(f"Confusion matrix (test, threshold {LIKE_THRESHOLD:g})")
        paths["confusion_matrix"] = _save(fig, out_dir / "confusion_matrix.png")
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(5, 5))
        frac_pos, mean_pred = calibration_curve(y_true, proba, n_bins=10, strategy="quantile")
        ax.plot(mean_pred, frac_pos, "o-", label="model")
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
        ax.set_xlabel("mean predicted P(like)")
        ax.set_ylabel("fraction liked")
        ax.set_title("Calibration (test)")
        ax.legend()
        paths["calibration"] = _save(fig, out_dir / "calibration.png")
        plt.close(fig)
    finally:
        plt.close("all")
    return paths
