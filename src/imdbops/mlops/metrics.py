"""Classification metrics and behavioural checks shared by evaluate and promote."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from imdbops.genres import IMDB_GENRES
from imdbops.movies import LIKE_THRESHOLD, predicted_labels

SCORES = ("loss", "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
          "pr_auc", "brier")  # fmt: skip


def binary_metrics(
    y: np.ndarray,
    proba: np.ndarray,
    threshold: float = LIKE_THRESHOLD,
    only: tuple[str, ...] = SCORES,
) -> dict[str, float]:
    from sklearn import metrics as m

    y = np.asarray(y, dtype=int)
    proba = np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    pred = (proba >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    funcs = {
        "loss": lambda: m.log_loss(y, proba, labels=[0, 1]),
        "accuracy": lambda: m.accuracy_score(y, pred),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(y, pred),
        "precision": lambda: m.precision_score(y, pred, zero_division=0),
        "recall": lambda: m.recall_score(y, pred, zero_division=0),
        "f1": lambda: m.f1_score(y, pred, zero_division=0),
        "roc_auc": lambda: m.roc_auc_score(y, proba) if both else float("nan"),
        "pr_auc": lambda: m.average_precision_score(y, proba) if both else float("nan"),
        "brier": lambda: m.brier_score_loss(y, proba),
    }
    unknown = [k for k in only if k not in funcs]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; allowed: {', '.join(funcs)}")
    return {k: float(funcs[k]()) for k in only}


def detailed_report(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Confusion matrix, per-class metrics and the classification report text."""
    from sklearn.metrics import classification_report, confusion_matrix

    pred = predicted_labels(np.asarray(proba))
    names = ["not_liked", "liked"]
    report = classification_report(
        y, pred, labels=[0, 1], target_names=names, output_dict=True, zero_division=0
    )
    return {
        "confusion_matrix": {
            "labels": names,
            "matrix": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
        },
        "per_class": {n: report[n] for n in names},
        "classification_report": classification_report(
            y, pred, labels=[0, 1], target_names=names, zero_division=0
        ),
    }


def per_genre_metrics(
    genres: pd.Series, y: np.ndarray, proba: np.ndarray, min_rows: int = 20
) -> dict[str, dict[str, float]]:
    """Metrics for every genre with at least ``min_rows`` test rows (and "(none)")."""
    y, proba = np.asarray(y), np.asarray(proba)
    lists = [g.split(",") if g else ["(none)"] for g in genres.fillna("")]
    out: dict[str, dict[str, float]] = {}
    for genre in (*IMDB_GENRES, "(none)"):
        mask = np.array([genre in gs for gs in lists])
        n = int(mask.sum())
        if n < min_rows:
            continue
        scores = binary_metrics(y[mask], proba[mask], only=("accuracy", "roc_auc", "f1"))
        out[genre] = {"rows": n, "positive_rate": float(y[mask].mean()), **scores}
    return out


def behavioural_checks(model: Any, titles: list[str], genres_vocab: tuple[str, ...]) -> dict:
    """Invariance and validity checks that any acceptable model must pass.

    - letter case: a title in lower, UPPER and Title case gets the same probability;
    - genres: every single genre and every pair gives a finite probability in [0, 1].
    """
    from imdbops.mlops.transform import to_model_frame

    base = [{"title": t, "genres": []} for t in titles]
    variants = {
        kind: to_model_frame([{"title": fn(t), "genres": []} for t in titles])
        for kind, fn in (("lower", str.lower), ("upper", str.upper), ("title", str.title))
    }
    probas = {k: model.predict_proba(v)[:, 1] for k, v in variants.items()}
    case_gap = max(float(np.max(np.abs(probas["lower"] - p))) for p in probas.values())
    combos = [[g] for g in genres_vocab] + [
        list(p) for p in itertools.combinations(genres_vocab, 2)
    ]
    items = [{"title": titles[i % len(titles)] if titles else "movie", "genres": c}
             for i, c in enumerate(combos)]  # fmt: skip
    p = model.predict_proba(to_model_frame(items))[:, 1]
    valid = np.isfinite(p) & (p >= 0) & (p <= 1)
    return {
        "case_invariance": {
            "titles": len(base),
            "max_abs_diff": case_gap,
            "passed": bool(case_gap <= 1e-9),
        },
        "genre_combinations": {
            "combinations": len(combos),
            "invalid": int((~valid).sum()),
            "min": float(np.nanmin(p)),
            "max": float(np.nanmax(p)),
            "passed": bool(valid.all()),
        },
    }
