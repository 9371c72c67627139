"""The domain core: what a movie row looks like at each stage, and what "liked" means.

Every layer reads these names from here and nowhere else: the extract query's result, the
raw validation schema, the transform, the model's input frame, the API's decision and the
monitoring profile. IMDb's genre vocabulary, the other half of the domain core, lives in
``imdbops.genres``. This module is stdlib-only so the CLI and the DAG definition can import
it at start-up for free.
"""

from __future__ import annotations

from typing import Any

# ---- column contracts -----------------------------------------------------------------
# Raw extract frame: the warehouse query's result, ``data/raw/movies.csv`` and the input of
# the transform, with IMDb's own column names. "str" columns never hold nulls ("" for a
# movie without genres); the Int64 ones are nullable.
RAW_EXTRACT_COLUMNS: dict[str, str] = {
    "tconst": "str",
    "primaryTitle": "str",
    "genres": "str",
    "startYear": "Int64",
    "runtimeMinutes": "Int64",
    "averageRating": "float64",
    "numVotes": "Int64",
}
RAW_TEXT_COLUMNS: tuple[str, ...] = tuple(
    c for c, dtype in RAW_EXTRACT_COLUMNS.items() if dtype == "str"
)
RAW_NUMBER_COLUMNS: tuple[str, ...] = tuple(
    c for c, dtype in RAW_EXTRACT_COLUMNS.items() if dtype != "str"
)

# Processed frame: one row per movie with its label (``processed/movies.parquet``). Genres
# are comma-separated in IMDb's canonical order; year and runtime are NaN when unknown.
PROCESSED_COLUMNS: dict[str, str] = {
    "tconst": "str",
    "title": "str",
    "text": "str",
    "genres": "str",
    "year": "float64",
    "runtime_minutes": "float64",
    "label": "int64",
}

# Model input frame: what the sklearn Pipeline's ``predict_proba`` takes, at training and at
# serving. Column 1 of ``predict_proba`` is P(like).
MODEL_INPUT_DTYPES: dict[str, str] = {
    "title": "object",
    "genres": "object",
    "year": "float64",
    "runtime_minutes": "float64",
}
MODEL_INPUT_COLUMNS: list[str] = list(MODEL_INPUT_DTYPES)

# ---- the label rule -------------------------------------------------------------------
# A movie is liked when its IMDb rating rounds to more than 5, i.e. averageRating >= 5.5.
# Python's round() and numpy/pandas' .round() both round half to even, so the scalar and the
# vectorised form below agree on every rating, 4.5 and 5.5 included.
LABEL_THRESHOLD = 5


def label_from_rating(rating: float) -> int:
    """1 when a movie with this IMDb rating counts as liked, else 0."""
    return int(round(float(rating)) > LABEL_THRESHOLD)


def labels_from_ratings(ratings: Any) -> Any:
    """The label rule on a whole pandas Series or numpy array (booleans; NaN stays False)."""
    return ratings.round() > LABEL_THRESHOLD


# ---- the decision threshold -----------------------------------------------------------
# The API answers "like" when P(like) reaches this; the same cut is used for the confusion
# matrix, accuracy/F1 at evaluation and the predicted-positive rate that monitoring tracks.
LIKE_THRESHOLD = 0.5


def is_liked(probability: float) -> bool:
    """The decision for one predicted probability."""
    return probability >= LIKE_THRESHOLD


def predicted_labels(proba: Any) -> Any:
    """The decision on a numpy array of probabilities, as 0/1 ints."""
    return (proba >= LIKE_THRESHOLD).astype(int)
