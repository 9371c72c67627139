"""Why did the model say that? Exact additive explanations for every model in the catalogue.

Each explanation splits the model's raw score (its log-odds) into contributions that add up
to it exactly: ``base_value + sum(contributions) == raw_score`` and
``sigmoid(raw_score) == probability``.

- ``default`` (the stack): TreeSHAP contributions of the LightGBM blender
  (``pred_contrib``) over its inputs: each text model's score, each genre flag, the title
  shape features, year and runtime. Inside each linear text model, its own logit is split by
  title word (``text_models``): a word n-gram's weight is shared by its words, a character
  n-gram's weight by the words it occurs in, in proportion to its occurrences.
- ``logreg`` / ``reference`` (linear): the same word split is the whole explanation.
- ``majority``: the prior is the base value and nothing else contributes.

A model outside the catalogue raises :class:`ExplainUnsupportedError`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from imdbops.genres import IMDB_GENRES
from imdbops.mlops.models.stack import NUMERIC
from imdbops.mlops.word_split import (
    ExplainUnsupportedError,
    TextModelExplanation,
    block_kind,
    genre_split,
    linear_text_model,
    sparse_blocks,
)

TOP_WORDS = 5


@dataclass
class Contribution:
    feature: str
    value: float | str | None  # the input the model saw (None: not given)
    contribution: float


@dataclass
class Explanation:
    model_kind: str
    probability: float
    raw_score: float
    base_value: float
    contributions: list[Contribution]
    text_models: list[TextModelExplanation] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def total(self) -> float:
        return self.base_value + sum(c.contribution for c in self.contributions)


def explain(pipeline: Any, frame: pd.DataFrame, top_words: int = TOP_WORDS) -> list[Explanation]:
    """One :class:`Explanation` per row of the model input ``frame``."""
    steps = getattr(pipeline, "named_steps", None)
    if not steps or "prepare" not in steps:
        raise ExplainUnsupportedError(
            f"{type(pipeline).__name__} is not a catalogue pipeline; only imdbops models explain"
        )
    final = pipeline.steps[-1][1]
    prepared = steps["prepare"].transform(frame)
    kind = type(final).__name__
    if kind == "TextStackClassifier":
        return _explain_stack(final, prepared, top_words)
    if kind == "DummyClassifier":
        return _explain_prior(final, len(prepared))
    if kind in ("LogisticRegression", "SGDClassifier"):
        return _explain_linear(pipeline, prepared, top_words)
    raise ExplainUnsupportedError(f"models ending in {kind} have no explainer yet")


# ---- the stack -------------------------------------------------------------------------
def _explain_stack(stack: Any, P: pd.DataFrame, top_words: int) -> list[Explanation]:
    from imdbops.mlops.models.features import TitleStats

    inputs = stack._base_inputs(P)  # the TF-IDF transforms run once, for both uses below
    base = [
        1.0
        / (
            1.0
            + np.exp(-(X @ stack.base_models_[n].coef_.ravel() + stack.base_models_[n].intercept_))
        )
        for n, X in inputs.items()
    ]
    features = np.hstack([np.column_stack(base), stack._side(P)])
    contrib = stack.blender_.booster_.predict(features, pred_contrib=True, num_threads=1)
    names = (
        [f"text:{n}" for n in inputs]
        + [f"genre:{g}" for g in IMDB_GENRES]
        + [f"title:{n}" for n in TitleStats.names]
        + list(NUMERIC)
    )
    blocks = sparse_blocks(
        [("word", stack.word_), ("char_wb", stack.char_), ("genres", stack.genre_pairs_)]
    )
    texts = P["text"].tolist()
    out = []
    for i in range(len(P)):
        row = contrib[i]
        contributions = [
            Contribution(name, _feature_value(name, features[i, j]), float(row[j]))
            for j, name in enumerate(names)
            if row[j] != 0.0
        ]
        contributions.sort(key=lambda c: -abs(c.contribution))
        text_models = []
        for name, X in inputs.items():
            model = stack.base_models_[name]
            coef, intercept = model.coef_.ravel(), float(model.intercept_[0])
            if name in ("tfidf", "nb"):
                text_models.append(
                    linear_text_model(name, X[i], coef, intercept, blocks, texts[i], top_words)
                )
            else:  # dense embeddings have no per-word split
                raw = float(np.asarray(X[i]) @ coef + intercept)
                text_models.append(TextModelExplanation(name, raw, intercept))
        raw_score = float(row.sum())
        out.append(
            Explanation(
                "default",
                _sigmoid(raw_score),
                raw_score,
                float(row[-1]),
                contributions,
                text_models,
                _reasons(contributions, text_models),
            )
        )
    return out


def _feature_value(name: str, value: float) -> float | None:
    if name.startswith("text:"):
        return round(float(value), 6)
    return None if math.isnan(value) else float(value)


# ---- linear models -----------------------------------------------------------------------
def _explain_linear(pipeline: Any, P: pd.DataFrame, top_words: int) -> list[Explanation]:
    clf = pipeline.steps[-1][1]
    middle = pipeline.steps[1:-1]
    coef, intercept = clf.coef_.ravel(), float(clf.intercept_[0])
    if len(middle) == 1 and hasattr(middle[0][1], "transformers_"):  # logreg's ColumnTransformer
        ct = middle[0][1]
        blocks = sparse_blocks(
            [(block_kind(est), est) for name, est, _ in ct.transformers_ if name != "remainder"]
        )
        X = ct.transform(P)
        texts = P["text"].tolist()
    else:  # reference: TextWithGenres -> char_wb TF-IDF
        text_step, vectorizer = middle[0][1], middle[-1][1]
        texts = text_step.transform(P)
        X = vectorizer.transform(texts)
        blocks = sparse_blocks([(block_kind(vectorizer), vectorizer)])
    X = X.tocsr()
    kind = "logreg" if type(clf).__name__ == "LogisticRegression" else "reference"
    out = []
    for i in range(X.shape[0]):
        tm = linear_text_model(kind, X[i], coef, intercept, blocks, texts[i], top_words=None)
        contributions = [
            Contribution(f"word:{w['word']}", None, w["contribution"]) for w in tm.words
        ]
        contributions += [
            Contribution(f"genre:{g}", 1.0, c) for g, c in genre_split(X[i], coef, blocks).items()
        ]
        contributions.sort(key=lambda c: -abs(c.contribution))
        tm.words = tm.words[:top_words]
        out.append(
            Explanation(
                kind,
                _sigmoid(tm.raw_score),
                tm.raw_score,
                intercept,
                contributions,
                [tm],
                _reasons(contributions, [tm]),
            )
        )
    return out


def _explain_prior(clf: Any, n: int) -> list[Explanation]:
    p = float(clf.class_prior_[1])
    raw = math.log(p / (1.0 - p)) if 0.0 < p < 1.0 else math.copysign(math.inf, p - 0.5)
    reason = f"every title gets the training set's like-rate ({p:.0%})"
    return [Explanation("majority", p, raw, raw, [], [], [reason]) for _ in range(n)]


# ---- the words a person reads --------------------------------------------------------------
def _reasons(contributions: list[Contribution], text_models: list[TextModelExplanation]) -> list:
    """``["Drama +0.12", "no year given -0.30", "'sequel' -0.08"]``: the top few, signed."""
    reasons = []
    for c in contributions[:3]:
        reasons.append(f"{_label(c)} {c.contribution:+.2f}")
    words = [w for tm in text_models[:1] for w in tm.words[:2]]
    for w in words:
        label = f"'{w['word']}'"
        if not any(label in r for r in reasons):
            reasons.append(f"{label} {w['contribution']:+.2f}")
    return reasons


def _label(c: Contribution) -> str:
    kind, _, name = c.feature.partition(":")
    if kind == "genre":
        return name if c.value else f"not {name}"
    if kind == "word":
        return f"'{name}'"
    if kind == "text":
        return f"title text ({name} model)"
    if kind == "title":
        return f"title shape ({name.replace('_', ' ')})"
    if c.value is None:
        return "no year given" if kind == "year" else "no runtime given"
    unit = "" if kind == "year" else " min"
    label = "year" if kind == "year" else "runtime"
    return f"{label} {c.value:.0f}{unit}"


def _sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + np.exp(-z)))
