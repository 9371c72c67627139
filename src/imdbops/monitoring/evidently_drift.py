"""Evidently's ``DataDriftPreset`` on two feature frames, boiled down to plain numbers.

Evidently is imported here, lazily, so the API and ``imdbops --help`` never pay its import.
It picks a method per column from the reference size and column type (Wasserstein /
Jensen-Shannon distances above 1,000 reference rows, K-S / chi-square p-values below).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd

from imdbops.mlops.reference_profile import GENRE_COLUMNS

CATEGORICAL_FEATURES = {"has_year", *GENRE_COLUMNS.values()}


@dataclass
class DriftOutcome:
    share: float
    n_drifted: int
    features: dict[str, dict[str, Any]]
    snapshot: Any  # evidently Snapshot: save_html(path)


def _is_p_value(method: str) -> bool:
    # Evidently names its hypothesis tests "... p_value"; smaller means more drift there.
    return "p_value" in method


def run_drift_preset(
    reference: pd.DataFrame, current: pd.DataFrame, drift_share: float
) -> DriftOutcome:
    """Compare ``current`` with ``reference`` column by column (shared columns only)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in reference.columns if c in current.columns]
    # A column with no values on one side has no distribution to compare; Evidently would
    # fail on it. Missingness itself is covered by has_year.
    columns = [c for c in columns if reference[c].notna().any() and current[c].notna().any()]
    reference, current = reference[columns], current[columns]
    definition = DataDefinition(
        numerical_columns=[c for c in columns if c not in CATEGORICAL_FEATURES],
        categorical_columns=[c for c in columns if c in CATEGORICAL_FEATURES],
    )
    report = Report([DataDriftPreset(columns=columns, drift_share=drift_share)])
    with warnings.catch_warnings():
        # Constant columns (e.g. a genre absent from both sides) make numpy warn on 0/0.
        warnings.simplefilter("ignore")
        snapshot = report.run(
            Dataset.from_pandas(current.reset_index(drop=True), data_definition=definition),
            Dataset.from_pandas(reference.reset_index(drop=True), data_definition=definition),
        )
    features: dict[str, dict[str, Any]] = {}
    share, count = None, None
    for metric in snapshot.dict()["metrics"]:
        config, value = metric.get("config", {}), metric.get("value")
        kind = str(config.get("type", ""))
        if kind.endswith("DriftedColumnsCount") and isinstance(value, dict):
            share, count = float(value["share"]), int(value["count"])
        elif kind.endswith("ValueDrift"):
            method, threshold = str(config.get("method")), float(config.get("threshold"))
            score = float(value)
            drifted = score < threshold if _is_p_value(method) else score >= threshold
            features[str(config["column"])] = {
                "score": score,
                "method": method,
                "threshold": threshold,
                "drifted": bool(drifted),
            }
    if share is None:
        raise RuntimeError("Evidently's report has no DriftedColumnsCount; check its version")
    return DriftOutcome(share=share, n_drifted=count, features=features, snapshot=snapshot)
