"""Calibration per probability decile, shared by the performance report and the shadow verdict."""

from __future__ import annotations

from typing import Any


def calibration(y: Any, proba: Any, bins: int = 10) -> list[dict[str, Any]]:
    """Per probability decile [k/10, (k+1)/10): rows, mean predicted, observed like-rate."""
    import numpy as np

    proba = np.asarray(proba, dtype=float)
    y = np.asarray(y, dtype=float)
    idx = np.clip((proba * bins).astype(int), 0, bins - 1)
    out = []
    for k in range(bins):
        sel = idx == k
        n = int(sel.sum())
        out.append(
            {
                "bin": f"{k / bins:.1f}-{(k + 1) / bins:.1f}",
                "rows": n,
                "mean_predicted": float(proba[sel].mean()) if n else None,
                "observed_rate": float(y[sel].mean()) if n else None,
            }
        )
    return out
