"""The domain core: one label rule, one decision threshold, contracts the stages honour."""

from __future__ import annotations

import numpy as np
import pandas as pd

from imdbops.mlops.transform import to_model_frame, transform_movies
from imdbops.movies import (
    LIKE_THRESHOLD,
    MODEL_INPUT_COLUMNS,
    MODEL_INPUT_DTYPES,
    PROCESSED_COLUMNS,
    RAW_EXTRACT_COLUMNS,
    is_liked,
    label_from_rating,
    labels_from_ratings,
    predicted_labels,
)

RATINGS = [1.0, 4.5, 4.51, 5.0, 5.4, 5.45, 5.5, 5.51, 6.5, 10.0]


def test_scalar_and_vectorised_label_rule_agree_at_every_edge():
    # round-half-to-even must not split the two forms: 4.5 -> 4 and 5.5 -> 6 in both.
    scalar = [label_from_rating(r) for r in RATINGS]
    assert scalar == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert labels_from_ratings(pd.Series(RATINGS)).astype(int).tolist() == scalar
    assert labels_from_ratings(np.array(RATINGS)).astype(int).tolist() == scalar


def test_decision_threshold_is_inclusive():
    assert LIKE_THRESHOLD == 0.5
    assert is_liked(0.5) and not is_liked(0.4999)
    assert predicted_labels(np.array([0.1, 0.5, 0.9])).tolist() == [0, 1, 1]


def test_transform_output_is_the_processed_contract():
    raw = pd.DataFrame(
        {
            "tconst": ["tt0000001", "tt0000002"],
            "primaryTitle": ["The Matrix", "Plan 9"],
            "genres": ["Action,Sci-Fi", ""],
            "startYear": pd.array([1999, None], dtype="Int64"),
            "runtimeMinutes": pd.array([136, 79], dtype="Int64"),
            "averageRating": [8.7, 3.9],
            "numVotes": pd.array([2_000_000, 40_000], dtype="Int64"),
        }
    )
    assert list(raw.columns) == list(RAW_EXTRACT_COLUMNS)
    processed = transform_movies(raw)
    assert list(processed.columns) == list(PROCESSED_COLUMNS)
    assert processed["label"].tolist() == [1, 0]


def test_model_frame_has_the_model_input_dtypes():
    for items in ([{"title": "Alien", "genres": ["horror"], "year": 1979}], []):
        frame = to_model_frame(items)
        assert list(frame.columns) == MODEL_INPUT_COLUMNS
        assert {c: str(t) for c, t in frame.dtypes.items()} == MODEL_INPUT_DTYPES
    assert to_model_frame([{"title": "Alien", "genres": ["horror", "Sci-Fi"]}])["genres"][0] == (
        "Horror,Sci-Fi"
    )
