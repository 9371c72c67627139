"""The reference profile: what the training data looked like, saved beside the model.

Monitoring compares live traffic with this profile, so it never re-reads the training set.
Besides summary statistics (genre frequencies, title length and token distributions,
predicted-positive rate) the profile carries a small seeded sample of *derived* feature
rows (numbers and genre flags, no raw titles) so Evidently's drift tests can run against it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imdbops import clock
from imdbops.genres import IMDB_GENRES
from imdbops.mlops.transform import clean_title
from imdbops.movies import MODEL_INPUT_COLUMNS, predicted_labels

PROFILE_VERSION = 1
SAMPLE_ROWS = 5000
SAMPLE_SEED = 42
TOP_TOKENS = 50
NUMERIC_FEATURES = ["title_length", "n_tokens", "n_genres", "has_year", "year", "runtime_minutes"]
PREDICTION_FEATURE = "probability"


class ProfileError(ValueError):
    """A reference profile is missing, unreadable or of an unknown version."""


def genre_column(genre: str) -> str:
    return "genre_" + genre.lower().replace("-", "_")


GENRE_COLUMNS = {g: genre_column(g) for g in IMDB_GENRES}


def derive_features(frame: pd.DataFrame, proba: Any | None = None) -> pd.DataFrame:
    """Model-input rows (title, genres, year, runtime_minutes) -> numeric drift features.

    The same function runs on the training set (at profile time) and on the logged window,
    so reference and current columns are comparable by construction.
    """
    titles = frame["title"].fillna("").astype(str)
    genres = frame["genres"].fillna("").astype(str)
    year = pd.to_numeric(frame["year"], errors="coerce").astype("float64")
    runtime = pd.to_numeric(frame["runtime_minutes"], errors="coerce").astype("float64")
    out = pd.DataFrame(index=range(len(frame)))
    out["title_length"] = titles.str.len().to_numpy(dtype="int64")
    out["n_tokens"] = np.fromiter(
        (len(clean_title(t).split()) for t in titles), "int64", len(titles)
    )
    genre_sets = [set(g.split(",")) if g else set() for g in genres]
    out["n_genres"] = np.fromiter((len(s) for s in genre_sets), "int64", len(genre_sets))
    out["has_year"] = year.notna().to_numpy().astype("int64")
    out["year"] = year.to_numpy()
    out["runtime_minutes"] = runtime.to_numpy()
    for genre, column in GENRE_COLUMNS.items():
        out[column] = np.fromiter((genre in s for s in genre_sets), "int64", len(genre_sets))
    if proba is not None:
        out[PREDICTION_FEATURE] = np.asarray(proba, dtype="float64")
    return out


def _distribution(values: pd.Series) -> dict[str, Any]:
    values = values.dropna()
    if values.empty:
        return {"count": 0}
    quantiles = values.quantile([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    counts = values.clip(upper=values.quantile(0.99)).round().astype(int).value_counts()
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=0)),
        "min": float(values.min()),
        "max": float(values.max()),
        "quantiles": {f"p{int(q * 100)}": float(v) for q, v in quantiles.items()},
        "histogram": {str(k): int(v) for k, v in sorted(counts.items())},
    }


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def _sample(features: pd.DataFrame, columns: list[str], rows: int, seed: int) -> dict[str, list]:
    if len(features) > rows:
        features = features.sample(n=rows, random_state=seed)
    return {c: [_round(v) for v in features[c].tolist()] for c in columns}


def build_reference_profile(
    frame: pd.DataFrame,
    proba: Any,
    *,
    sample_rows: int = SAMPLE_ROWS,
    seed: int = SAMPLE_SEED,
) -> dict[str, Any]:
    """Profile the training set's model-input frame and the model's P(like) on it.

    ``frame`` has the model-input columns (title, genres, year, runtime_minutes); ``proba``
    is the predicted probability of the positive class for each row. The result is plain
    JSON-able data, well under 1 MB; save it with :func:`save_profile`.
    """
    missing = [c for c in MODEL_INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ProfileError(f"the profile needs model-input columns; missing {missing}")
    proba = np.asarray(proba, dtype="float64")
    if len(proba) != len(frame) or len(frame) == 0:
        raise ProfileError(
            f"need one probability per row and at least one row; got {len(proba)} "
            f"probabilities for {len(frame)} rows"
        )
    features = derive_features(frame.reset_index(drop=True), proba)
    tokens: Counter[str] = Counter()
    for title in frame["title"].fillna("").astype(str):
        tokens.update(clean_title(title).split())
    genre_freq = {g: float(features[c].mean()) for g, c in GENRE_COLUMNS.items()}
    # Genres never seen in training carry no drift signal in Evidently's per-column tests
    # (a constant column); their appearance shows up in genre_frequencies instead.
    sample_columns = [
        *NUMERIC_FEATURES,
        *(GENRE_COLUMNS[g] for g, f in genre_freq.items() if f > 0),
        PREDICTION_FEATURE,
    ]
    return {
        "profile_version": PROFILE_VERSION,
        "created_at": clock.now().isoformat(timespec="seconds"),
        "n_rows": int(len(frame)),
        "positive_rate": float(predicted_labels(proba).mean()),
        "mean_probability": float(proba.mean()),
        "probability": _distribution(pd.Series(proba)),
        "genre_frequencies": genre_freq,
        "title_length": _distribution(features["title_length"]),
        "n_tokens": _distribution(features["n_tokens"]),
        "n_genres": _distribution(features["n_genres"]),
        "year": _distribution(features["year"]),
        "runtime_minutes": _distribution(features["runtime_minutes"]),
        "year_missing_rate": float(1 - features["has_year"].mean()),
        "top_tokens": {t: c / max(1, len(frame)) for t, c in tokens.most_common(TOP_TOKENS)},
        "sample_seed": seed,
        "sample_columns": sample_columns,
        "sample": _sample(features, sample_columns, sample_rows, seed),
    }


def profile_sample_frame(profile: dict[str, Any]) -> pd.DataFrame:
    """The profile's stored feature sample as a DataFrame (the drift job's reference data)."""
    validate_profile(profile)
    columns = profile["sample_columns"]
    frame = pd.DataFrame({c: profile["sample"][c] for c in columns})
    return frame.astype("float64")


def validate_profile(profile: Any, source: str = "profile") -> dict[str, Any]:
    if not isinstance(profile, dict) or profile.get("profile_version") != PROFILE_VERSION:
        got = profile.get("profile_version") if isinstance(profile, dict) else type(profile)
        raise ProfileError(
            f"{source} is not a reference profile of version {PROFILE_VERSION} (got {got!r}); "
            "retrain the model with this version of imdbops to rebuild it"
        )
    for key in ("sample_columns", "sample", "genre_frequencies", "positive_rate"):
        if key not in profile:
            raise ProfileError(f"{source} lacks '{key}'; rebuild it with build_reference_profile")
    return profile


def save_profile(profile: dict[str, Any], path: str | Path) -> Path:
    from imdbops.atomic import atomic_write_json

    return atomic_write_json(path, validate_profile(profile))


def load_profile(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProfileError(f"reference profile {path} does not exist") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"reference profile {path} is not valid JSON: {exc}") from exc
    return validate_profile(data, str(path))
