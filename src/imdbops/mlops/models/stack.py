"""The default model: text base models stacked under a LightGBM blender.

Base models (each sees only title + genres):
- ``tfidf``: logistic regression on word (1-2) + char_wb (2-5) TF-IDF and genre one-hots/pairs;
- ``nb``: NB-SVM style logistic regression on the same n-grams, binary, scaled by their
  naive-Bayes log-count ratios;
- ``emb`` (optional): logistic regression on static MiniLM title embeddings.

Their out-of-fold probabilities on the training set (never in-sample ones, which would make
the blender trust them blindly) feed a LightGBM blender together with genre one-hots, title
shape features and the optional ``year``/``runtime_minutes``. The blender sees those two
randomly blanked on a share of training rows, so a request without them gets a model that
learnt to rely on the text alone (LightGBM routes NaN natively).
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from imdbops.genres import IMDB_GENRES
from imdbops.mlops.models.features import GenreOneHot, TitleStats, genre_indices
from imdbops.mlops.models.ngrams import CharNgramTfidf
from imdbops.movies import predicted_labels

NUMERIC = ("year", "runtime_minutes")


def _nb_counts(Xb: sp.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: how many positive and how many negative rows hold the n-gram."""
    positive = sp.csr_matrix(y.reshape(1, -1).astype(np.float64))
    pos = np.asarray((positive @ Xb).todense()).ravel()
    return pos, np.asarray(Xb.sum(0), dtype=np.float64).ravel() - pos


def _ratio(pos: np.ndarray, neg: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    pos, neg = pos + alpha, neg + alpha
    return np.log((pos / pos.sum()) / (neg / neg.sum())).astype(np.float32)


def _with_data(X: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    """X's sparsity pattern (shared, not copied: a few hundred MB at 300k rows) with new values."""
    out = sp.csr_matrix((data, X.indices, X.indptr), shape=X.shape, copy=False)
    out.has_sorted_indices = X.has_sorted_indices
    return out


def _binary(X: sp.csr_matrix) -> sp.csr_matrix:
    return _with_data(X, np.ones_like(X.data))


def _scaled(X: sp.csr_matrix, ratio: np.ndarray) -> sp.csr_matrix:
    """NB features: each present n-gram's value is its log-count ratio."""
    return _with_data(X, ratio[X.indices])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


class TextStackClassifier(BaseEstimator, ClassifierMixin):
    """Prepared frame (text, genres, year, runtime_minutes) -> P(like); see module docstring."""

    def __init__(
        self,
        C_tfidf: float = 0.2,
        C_nb: float = 0.05,
        C_emb: float = 1.0,
        embedding: str = "none",
        emb_dims: int = 64,
        n_folds: int = 4,
        n_folds_large: int = 3,
        mask_rate: float = 0.5,
        n_estimators: int = 800,
        learning_rate: float = 0.02,
        num_leaves: int = 7,
        min_child_samples: int = 100,
        max_vocab: int = 500_000,
        blend_max_rows: int = 50_000,
        seed: int = 42,
    ):
        self.C_tfidf = C_tfidf
        self.C_nb = C_nb
        self.C_emb = C_emb
        self.embedding = embedding
        self.emb_dims = emb_dims
        self.n_folds = n_folds
        self.n_folds_large = n_folds_large
        self.mask_rate = mask_rate
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_vocab = max_vocab
        self.blend_max_rows = blend_max_rows
        self.seed = seed

    # ---- features ---------------------------------------------------------------------
    def _sparse(self, P: pd.DataFrame) -> sp.csr_matrix:
        text = P["text"]
        return sp.hstack(
            [
                self.word_.transform(text),
                self.char_.transform(text),
                self.genre_pairs_.transform(P["genres"]),
            ],
            format="csr",
        )

    def _base_inputs(self, P: pd.DataFrame, Xt: sp.csr_matrix | None = None) -> dict[str, object]:
        Xt = self._sparse(P) if Xt is None else Xt
        inputs = {"tfidf": Xt, "nb": _scaled(Xt, self.nb_ratio_)}
        if self.embedding == "minilm":
            inputs["emb"] = self.embedder_.transform(P["text"])
        return inputs

    def _side(self, P: pd.DataFrame) -> np.ndarray:
        genres = np.zeros((len(P), len(IMDB_GENRES)))
        for row, value in enumerate(P["genres"]):
            genres[row, genre_indices(value)] = 1.0
        stats = TitleStats().transform(P["text"])
        numeric = np.column_stack([P[c].to_numpy(dtype=np.float64) for c in NUMERIC])
        return np.hstack([genres, stats, numeric])

    def _base_model(self, name: str) -> LogisticRegression:
        C = {"tfidf": self.C_tfidf, "nb": self.C_nb, "emb": self.C_emb}[name]
        # liblinear's dual coordinate descent costs one pass over the non-zeros per epoch and
        # needs ~12-15 epochs whatever the row count; its primal Newton solver (the default)
        # needed more iterations as rows grew at a fixed C (13x the time for 4x the rows).
        # Same optimum: identical ROC-AUC on the bundled data. max_iter caps the worst case.
        # tol 1e-3 (liblinear's own default for this solver is 0.1) saves the last 3-4
        # epochs of sklearn's 1e-4, which moved neither base model's test ROC-AUC in the
        # fifth decimal at 41k or 330k rows.
        return LogisticRegression(
            C=C, solver="liblinear", dual=True, tol=1e-3, max_iter=200, random_state=self.seed
        )

    # ---- serialization ----------------------------------------------------------------
    # skops writes a dict entry by entry (a node per n-gram), which took minutes for the
    # vocabularies of a large fit; stored as two arrays (UTF-8 bytes + offsets, in column
    # order) they are written and audited as plain numpy arrays.
    def __getstate__(self):
        # A copy: for a class outside sklearn the base returns the live __dict__ itself.
        state = dict(super().__getstate__())
        for name in ("word_", "char_"):
            vectorizer = state.get(name)
            if vectorizer is None or not hasattr(vectorizer, "vocabulary_"):
                continue
            packed = copy.copy(vectorizer)
            vocabulary = packed.__dict__.pop("vocabulary_")
            terms = [t.encode("utf-8") for t in sorted(vocabulary, key=vocabulary.__getitem__)]
            state[name] = packed
            state[name + "terms"] = np.frombuffer(b"".join(terms), dtype=np.uint8).copy()
            state[name + "offsets"] = np.cumsum([0, *map(len, terms)], dtype=np.int64)
        return state

    def __setstate__(self, state):
        state = dict(state)
        # A model saved before a parameter existed gets its default, so get_params() works.
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.default is not inspect.Parameter.empty:
                state.setdefault(name, param.default)
        for name in ("word_", "char_"):
            if name + "terms" not in state:
                continue
            blob = state.pop(name + "terms").tobytes()
            ends = state.pop(name + "offsets").tolist()
            vectorizer = state[name]
            vectorizer.vocabulary_ = {
                blob[a:b].decode("utf-8"): i
                for i, (a, b) in enumerate(zip(ends[:-1], ends[1:], strict=True))
            }
        super().__setstate__(state)

    # ---- sklearn API ------------------------------------------------------------------
    def fit(self, P: pd.DataFrame, y) -> TextStackClassifier:
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        Xt = self._fit_text(P, min_df=2 if len(y) >= 200 else 1)
        if self.embedding == "minilm":
            from imdbops.mlops.models.static_embed import StaticEmbedder

            self.embedder_ = StaticEmbedder(n_components=self.emb_dims, seed=self.seed)
            self.embedder_.fit(P["text"])
        pos, neg = _nb_counts(_binary(Xt), y)
        self.nb_ratio_ = _ratio(pos, neg)
        inputs = self._base_inputs(P, Xt)

        # Many rows: the blender sees a sample of the out-of-fold predictions anyway, and a
        # fold model trained on 2/3 of them is as good as one on 3/4 (same ROC-AUC at 330k
        # rows), for a quarter fewer logistic regressions, the bulk of a large fit.
        large = len(y) > self.blend_max_rows
        n_folds = min(self.n_folds, self.n_folds_large) if large else self.n_folds
        oof = self._out_of_fold(Xt, inputs, y, (pos, neg), n_folds)
        self.base_models_ = {name: self._base_model(name).fit(X, y) for name, X in inputs.items()}

        features = np.hstack([oof, self._side(P)])
        rng = np.random.default_rng(self.seed)
        blank = rng.random(len(y)) < self.mask_rate
        features[blank, -len(NUMERIC) :] = np.nan
        self.blender_ = self._fit_blender(features, y, large)
        return self

    def _fit_text(self, P: pd.DataFrame, min_df: int):
        """Fit the word and char TF-IDF vectorizers and the genre pairs; the sparse matrix.

        ``min_df``: on a handful of titles 2 can prune every term; tiny fits keep them all.
        The vocabularies and IDF weights see no labels, so one fit on all training rows
        serves every fold. max_vocab keeps the commonest n-grams per vectorizer, bounding the
        model's size on millions of titles (the bundled data has ~90k n-grams in all)."""
        token = r"(?u)\b\w+\b"
        self.word_ = TfidfVectorizer(
            ngram_range=(1, 2),
            min_df=min_df,
            max_features=self.max_vocab,
            sublinear_tf=True,
            token_pattern=token,
            dtype=np.float32,
        )
        self.char_ = CharNgramTfidf(
            analyzer="char_wb",
            ngram_range=(2, 5),
            min_df=min_df,
            max_features=self.max_vocab,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self.genre_pairs_ = GenreOneHot(pairs=True)
        # fit_transform: each title is tokenised once (fit then transform did it twice).
        Xt = sp.hstack(
            [
                self.word_.fit_transform(P["text"]),
                self.char_.fit_transform(P["text"]),
                self.genre_pairs_.transform(P["genres"]),
            ],
            format="csr",
        )
        # Sorted once here (the vocabulary pruning leaves columns out of order): otherwise
        # each of the ten logistic regressions' input checks sorts its own copy again.
        Xt.sum_duplicates()
        return Xt

    def _out_of_fold(self, Xt, inputs: dict, y: np.ndarray, counts, n_folds: int) -> np.ndarray:
        """Each base model's out-of-fold probability for every training row."""
        pos, neg = counts
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=self.seed)
        oof = np.zeros((len(y), len(inputs)))
        for fit_idx, pred_idx in folds.split(np.zeros(len(y)), y):
            # The NB ratios are labels in disguise (an n-gram seen once encodes its movie's
            # label), so each fold recomputes them from its own training rows only: all
            # rows' counts minus the held-out rows' (a quarter of the rows to slice, not 3/4).
            held_pos, held_neg = _nb_counts(_binary(Xt[pred_idx]), y[pred_idx])
            fold_ratio = _ratio(pos - held_pos, neg - held_neg)
            for j, (name, X) in enumerate(inputs.items()):
                if name == "nb":
                    X = _scaled(Xt, fold_ratio)
                model = self._base_model(name).fit(X[fit_idx], y[fit_idx])
                oof[pred_idx, j] = _sigmoid(model.decision_function(X[pred_idx]))
        return oof

    def _fit_blender(self, features: np.ndarray, y: np.ndarray, large: bool):
        import lightgbm as lgb

        # The blender reads ~40 dense columns; past ~50k rows more of them hardly change its
        # trees, while each of its 800 rounds costs a pass over every row (the blender was a
        # fifth of the fit at 330k rows). A stratified sample keeps the class shares.
        if large:
            from sklearn.model_selection import train_test_split

            keep, _ = train_test_split(
                np.arange(len(y)),
                train_size=self.blend_max_rows,
                stratify=y,
                random_state=self.seed,
            )
            keep.sort()
            features, y = features[keep], y[keep]
        return lgb.LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            reg_lambda=1.0,
            n_jobs=1,
            random_state=self.seed,
            verbose=-1,
        ).fit(features, y)

    def _features(self, P: pd.DataFrame) -> np.ndarray:
        inputs = self._base_inputs(P)
        # The linear models' own predict_proba re-validates its input on every call, which
        # dominates single-item latency; the logistic function is all it computes.
        base = np.column_stack(
            [
                _sigmoid(X @ self.base_models_[n].coef_.ravel() + self.base_models_[n].intercept_)
                for n, X in inputs.items()
            ]
        )
        return np.hstack([base, self._side(P)])

    def predict_proba(self, P: pd.DataFrame) -> np.ndarray:
        p = self.blender_.booster_.predict(self._features(P), num_threads=1)
        return np.column_stack([1.0 - p, p])

    def predict(self, P: pd.DataFrame) -> np.ndarray:
        return predicted_labels(self.predict_proba(P)[:, 1])
