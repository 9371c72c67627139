"""Distribution checks against the last accepted dataset, with warn and fail thresholds.

Schema checks catch broken rows; these catch a broken *batch*: an extract that silently
lost half its rows, a label balance that swung, a column that went mostly null. The stats
of a dataset are stored as "accepted" only after it passed, so one bad run cannot move the
baseline it is compared against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from imdbops.atomic import atomic_write_json
from imdbops.dataops.validation_report import TABLE, Failure
from imdbops.movies import labels_from_ratings


def dataset_stats(df: pd.DataFrame, kind: str) -> dict[str, Any]:
    """Row count, positive-label rate and per-column null rates of a frame."""
    n = len(df)
    if kind == "raw" and "averageRating" in df:
        ratings = pd.to_numeric(df["averageRating"], errors="coerce")
        labels = labels_from_ratings(ratings).where(ratings.notna())
    elif "label" in df:
        labels = pd.to_numeric(df["label"], errors="coerce")
    else:
        labels = pd.Series(dtype=float)
    label_rate = float(labels.mean()) if n and labels.notna().any() else None
    null_rates = {str(c): float(df[c].isna().mean()) if n else 0.0 for c in df.columns}
    return {"n_rows": n, "label_rate": label_rate, "null_rates": null_rates}


def _grade(
    value: float,
    warn: float,
    fail: float,
    failure: Failure,
    failures: list[Failure],
    warnings: list[Failure],
) -> None:
    """File ``failure`` under failures or warnings by which threshold ``value`` exceeds."""
    if value > fail:
        failure.detail += f" > fail threshold {fail:g}"
        failures.append(failure)
    elif value > warn:
        failure.detail += f" > warn threshold {warn:g}"
        warnings.append(failure)


def compare(
    current: dict[str, Any], accepted: dict[str, Any] | None, vcfg: Any
) -> tuple[list[Failure], list[Failure]]:
    """(failures, warnings) for ``current`` stats against the accepted baseline.

    Null rates are absolute (no baseline needed); row count and label balance are relative
    to the accepted dataset and skipped before the first one is accepted.
    """
    failures: list[Failure] = []
    warnings: list[Failure] = []
    n = current["n_rows"]
    for column, rate in current["null_rates"].items():
        nulls = Failure(column, "null_rate", round(rate * n), [], f"{rate:.1%} of values are null")
        _grade(rate, vcfg.null_rate_warn, vcfg.null_rate_fail, nulls, failures, warnings)
    if not accepted:
        return failures, warnings
    n0 = accepted.get("n_rows") or 0
    if n0:
        change = abs(n - n0) / n0
        rows = Failure(
            TABLE, "row_count_change", n, [], f"row count {n0} -> {n} ({change:.1%} change)"
        )
        _grade(change, vcfg.row_change_warn, vcfg.row_change_fail, rows, failures, warnings)
    p0, p = accepted.get("label_rate"), current.get("label_rate")
    if p0 is not None and p is not None:
        shift = abs(p - p0)
        labels = Failure(
            "label",
            "label_balance_shift",
            n,
            [],
            f"share of liked movies {p0:.3f} -> {p:.3f} (shift {shift:.3f})",
        )
        _grade(shift, vcfg.label_shift_warn, vcfg.label_shift_fail, labels, failures, warnings)
    return failures, warnings


def _accepted_key(name: str) -> str:
    """The last accepted dataset's statistics, under ``state_dir`` or the artifact store."""
    return f"accepted/{name}.json"


def accepted_path(cfg: Any, name: str) -> Path:
    return Path(cfg.paths.state_dir) / _accepted_key(name)


def _shared_store(cfg: Any) -> Any:
    """With ``paths.artifacts_url`` the baseline lives in the artifact store, so a worker on
    another machine compares against the same accepted dataset."""
    if not cfg.paths.artifacts_url:
        return None
    from imdbops.objectstore import ObjectStore

    return ObjectStore(
        cfg.paths.artifacts_url, cfg.paths.artifacts_storage_options, "paths.artifacts_url"
    )


def load_accepted(cfg: Any, name: str) -> dict[str, Any] | None:
    store = _shared_store(cfg)
    try:
        if store is not None:
            return json.loads(store.read_bytes(_accepted_key(name)))
        return json.loads(accepted_path(cfg, name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        # A damaged baseline must not block the pipeline forever; the next pass rewrites it.
        return None


def save_accepted(cfg: Any, name: str, stats: dict[str, Any]) -> Path | str:
    store = _shared_store(cfg)
    if store is not None:
        body = json.dumps(stats, indent=2, sort_keys=True, default=str) + "\n"
        return store.put_bytes(_accepted_key(name), body.encode())
    return atomic_write_json(accepted_path(cfg, name), stats)
