"""Feature transformers shared by every model; all of them work on the model input frame.

The first pipeline step (``PrepareInput``) owns title cleaning, so training and serving run
the very same ``clean_title`` and no caller can skip it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from imdbops.genres import IMDB_GENRES
from imdbops.mlops.transform import clean_title
from imdbops.movies import MODEL_INPUT_COLUMNS, NUMERIC_INPUTS

_GENRE_INDEX = {g.lower(): i for i, g in enumerate(IMDB_GENRES)}
_ROMAN = re.compile(r"\b(ii|iii|iv|v|vi|vii|viii|ix|x)\b")
_SEQUEL = re.compile(r"\b(part|chapter|episode|returns|revenge|strikes back|\d)\b")


class PrepareInput(BaseEstimator, TransformerMixin):
    """Model input frame -> ``text`` (cleaned title), ``genres`` and the record's numbers.

    The numbers (``movies.NUMERIC_INPUTS``: year, runtime, ...) are optional inputs: a
    missing column means "not given".
    """

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"model input must be a pandas DataFrame with columns {MODEL_INPUT_COLUMNS}, "
                f"got {type(X).__name__}; build it with imdbops.mlops.transform.to_model_frame"
            )
        if "title" not in X.columns:
            raise ValueError(
                f"model input has no 'title' column (columns: {list(X.columns)}); "
                f"expected {MODEL_INPUT_COLUMNS}"
            )
        n = len(X)
        titles = X["title"].to_numpy()
        genres = X["genres"].to_numpy() if "genres" in X.columns else np.full(n, "", dtype=object)
        data = {
            "text": [clean_title(t) if isinstance(t, str) else "" for t in titles],
            "genres": [g if isinstance(g, str) else "" for g in genres],
        }
        for col in NUMERIC_INPUTS:
            if col in X.columns:
                values = pd.to_numeric(X[col].to_numpy(), errors="coerce")
                data[col] = np.asarray(values, dtype=np.float64)
            else:
                data[col] = np.full(n, np.nan)
        out = pd.DataFrame(data)
        return out


def genre_indices(genres: str) -> list[int]:
    """Known genre positions in IMDB_GENRES; unknown names were rejected upstream."""
    if not genres:
        return []
    return sorted({_GENRE_INDEX[g] for g in genres.lower().split(",") if g in _GENRE_INDEX})


class GenreOneHot(BaseEstimator, TransformerMixin):
    """Genres string column -> 28 one-hot columns (+ pairwise interactions when ``pairs``)."""

    def __init__(self, pairs: bool = False):
        self.pairs = pairs

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> sp.csr_matrix:
        values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else X
        n_genres = len(IMDB_GENRES)
        n_cols = n_genres + (n_genres * (n_genres - 1) // 2 if self.pairs else 0)
        rows, cols = [], []
        for row, genres in enumerate(values):
            idx = genre_indices(genres if isinstance(genres, str) else "")
            active = list(idx)
            if self.pairs:
                active += [
                    n_genres + pair_index(a, b, n_genres)
                    for k, a in enumerate(idx)
                    for b in idx[k + 1 :]
                ]
            rows.extend([row] * len(active))
            cols.extend(active)
        data = np.ones(len(rows), dtype=np.float64)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(values), n_cols))


def pair_index(a: int, b: int, n: int) -> int:
    # Position of pair (a, b), a < b, in the upper triangle enumerated row by row.
    return a * n - a * (a + 1) // 2 + (b - a - 1)


class TitleStats(BaseEstimator, TransformerMixin):
    """Cheap shape features of the cleaned title: length, words, digits, sequel markers."""

    names = ("n_chars", "n_words", "has_digit", "sequel", "roman", "mean_word_len", "the_prefix")

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> np.ndarray:
        values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else X
        out = np.zeros((len(values), len(self.names)), dtype=np.float64)
        for i, text in enumerate(values):
            words = text.split()
            out[i] = (
                len(text),
                len(words),
                any(map(str.isdigit, text)),
                bool(_SEQUEL.search(text)),
                bool(_ROMAN.search(text)),
                (sum(map(len, words)) / len(words)) if words else 0.0,
                text.startswith("the "),
            )
        return out

    def get_feature_names_out(self, input_features=None):
        return np.array(self.names, dtype=object)


def text_with_genres(frame: pd.DataFrame) -> list[str]:
    """Title words followed by genre words: the reference project's single text field."""
    return [
        f"{t} {g.replace(',', ' ').lower()}".strip()
        for t, g in zip(frame["text"], frame["genres"], strict=True)
    ]


class TextWithGenres(BaseEstimator, TransformerMixin):
    """Prepared frame -> one string per row (cleaned title + genre words)."""

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> list[str]:
        return text_with_genres(X)
