"""Metrics and behavioural checks on a real (small) pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imdbops.genres import IMDB_GENRES
from imdbops.mlops.metrics import (
    behavioural_checks,
    binary_metrics,
    detailed_report,
    per_genre_metrics,
)
from imdbops.mlops.models import get_spec


def test_binary_metrics_perfect_and_unknown():
    y = np.array([0, 0, 1, 1])
    scores = binary_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert scores["roc_auc"] == 1.0 and scores["accuracy"] == 1.0 and scores["brier"] < 0.05
    with pytest.raises(ValueError, match="allowed"):
        binary_metrics(y, y, only=("nope",))


def test_report_and_per_genre():
    y = np.array([0, 1] * 30)
    proba = np.where(y == 1, 0.7, 0.4)
    genres = pd.Series(["Drama", "Drama,Comedy", ""] * 20)
    report = detailed_report(y, proba)
    assert report["confusion_matrix"]["matrix"] == [[30, 0], [0, 30]]
    per = per_genre_metrics(genres, y, proba, min_rows=10)
    assert set(per) == {"Drama", "Comedy", "(none)"} and per["Drama"]["rows"] == 40


def test_behavioural_checks_pass_for_a_real_model():
    spec = get_spec("logreg")
    titles = ["The Dark Knight", "Mega Shark", "Love Story", "Zombie Night", "Toy Story"] * 8
    X = pd.DataFrame({"title": titles, "genres": ["Drama", "Horror", "Romance", "Horror",
                                                  "Animation"] * 8,
                      "year": 2000.0, "runtime_minutes": 100.0})  # fmt: skip
    y = np.array([1, 0, 1, 0, 1] * 8)
    model = spec.build({"min_df": 1}, 0).fit(X, y)
    checks = behavioural_checks(model, titles[:5], IMDB_GENRES)
    assert checks["case_invariance"]["passed"]
    n = len(IMDB_GENRES)
    assert checks["genre_combinations"]["combinations"] == n + n * (n - 1) // 2
    assert checks["genre_combinations"]["passed"]
