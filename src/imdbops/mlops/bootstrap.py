"""Paired bootstrap confidence interval for the difference of a metric between two models.

Both models are scored on the same resampled rows each round, so the interval reflects the
difference itself, not the (larger) noise of each score separately.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _fast_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC from average ranks (handles ties) — much faster than sklearn per resample."""
    from scipy.stats import rankdata

    pos = y == 1
    n_pos = int(pos.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def metric_fn(metric: str):
    """A fast ``f(y, proba) -> float`` where higher is better (losses are negated)."""
    from imdbops.mlops.metrics import binary_metrics

    if metric == "roc_auc":
        return _fast_auc
    sign = -1.0 if metric in ("loss", "brier") else 1.0
    return lambda y, p: sign * binary_metrics(y, p, only=(metric,))[metric]


def paired_bootstrap(
    y: np.ndarray,
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    *,
    metric: str = "roc_auc",
    samples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """CI of ``metric(a) - metric(b)`` (higher = a better) over ``samples`` paired resamples."""
    y = np.asarray(y, dtype=int)
    a, b = np.asarray(proba_a, dtype=float), np.asarray(proba_b, dtype=float)
    if not (len(y) == len(a) == len(b)) or len(y) == 0:
        raise ValueError(
            f"paired bootstrap needs equal, non-empty arrays; got {len(y)}, {len(a)}, {len(b)}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"bootstrap_alpha must be between 0 and 1, got {alpha}")
    fn = metric_fn(metric)
    rng = np.random.default_rng(seed)
    diffs = []
    n = len(y)
    for _ in range(int(samples)):
        idx = rng.integers(0, n, size=n)
        ys = y[idx]
        if ys.min() == ys.max():  # a one-class resample has no AUC; draw again next round
            continue
        diffs.append(fn(ys, a[idx]) - fn(ys, b[idx]))
    if not diffs:
        raise ValueError("every bootstrap resample had one class only; the test split is too small")
    arr = np.asarray(diffs)
    low, high = np.quantile(arr, [alpha / 2, 1 - alpha / 2])
    return {
        "metric": metric,
        "difference": float(fn(y, a) - fn(y, b)),
        "ci_low": float(low),
        "ci_high": float(high),
        "alpha": alpha,
        "samples": len(diffs),
        "seed": seed,
    }
