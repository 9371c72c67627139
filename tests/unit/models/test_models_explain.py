"""Explanations add up: base value + contributions == the model's raw score, for every model.

Real fitted models from the catalogue on real bundled titles; nothing is mocked.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.serving import bundled_items

from imdbops.mlops.explain import ExplainUnsupportedError, explain
from imdbops.mlops.models import MODEL_NAMES, get_spec
from imdbops.mlops.transform import to_model_frame

SMALL = {
    "default": {"n_estimators": 60, "n_folds": 2},
    "reference": {"epochs": 3, "max_features": 20_000},
    "logreg": {},
    "majority": {},
}


@pytest.fixture(scope="module")
def data():
    items, labels = bundled_items(1500, seed=3)
    frame = to_model_frame(items)
    return frame, np.asarray(labels)


@pytest.fixture(scope="module")
def fitted(data):
    frame, y = data
    models = {}
    for name in MODEL_NAMES:
        spec = get_spec(name)
        pipeline = spec.build(SMALL[name], seed=0)
        spec.fit(pipeline, frame.iloc[:1200], y[:1200], frame.iloc[1200:], y[1200:])
        models[name] = pipeline
    return models


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_contributions_add_up_to_the_raw_score(name, fitted, data):
    frame, _ = data
    batch = frame.iloc[1200:1300].reset_index(drop=True)
    # One row without year/runtime, as the API sends when the user leaves them out.
    batch.loc[0, ["year", "runtime_minutes"]] = np.nan
    pipeline = fitted[name]
    proba = pipeline.predict_proba(batch)[:, 1]
    explanations = explain(pipeline, batch)
    assert len(explanations) == len(batch)
    for exp, p in zip(explanations, proba, strict=True):
        assert exp.model_kind == name
        assert exp.total() == pytest.approx(exp.raw_score, abs=1e-6)
        assert exp.probability == pytest.approx(p, abs=1e-6)
        assert 1.0 / (1.0 + math.exp(-exp.raw_score)) == pytest.approx(p, abs=1e-6)
        assert exp.reasons, "a person always gets at least one reason"
        magnitudes = [abs(c.contribution) for c in exp.contributions]
        assert magnitudes == sorted(magnitudes, reverse=True)


@pytest.mark.parametrize("name", ["default", "logreg", "reference"])
def test_word_split_adds_up_to_each_text_models_logit(name, fitted, data):
    frame, _ = data
    batch = frame.iloc[1300:1340].reset_index(drop=True)
    pipeline = fitted[name]
    for exp in explain(pipeline, batch, top_words=1000):
        for tm in exp.text_models:
            total = tm.intercept + tm.genres + sum(w["contribution"] for w in tm.words)
            if name != "default" or tm.name in ("tfidf", "nb"):
                assert total == pytest.approx(tm.raw_score, abs=1e-6)


def test_stack_text_scores_are_the_base_models_probabilities(fitted, data):
    frame, _ = data
    batch = frame.iloc[1200:1220]
    stack = fitted["default"][-1]
    features = stack._features(fitted["default"]["prepare"].transform(batch))
    for i, exp in enumerate(explain(fitted["default"], batch)):
        by_name = {tm.name: tm for tm in exp.text_models}
        for j, name in enumerate(["tfidf", "nb"]):
            p = 1.0 / (1.0 + math.exp(-by_name[name].raw_score))
            assert p == pytest.approx(features[i, j], abs=1e-6)


def test_a_missing_year_is_named_and_words_come_from_the_title(fitted):
    frame = to_model_frame(
        [
            {"title": "Zombie Killers Part 2", "genres": ["Action"], "year": None},
            {"title": "The Quiet Documentary", "genres": ["Documentary"], "year": 1994},
        ]
    )
    first, second = explain(fitted["default"], frame)
    features = {c.feature: c for c in first.contributions}
    assert features["year"].value is None  # the blender always splits on year
    assert {c.feature: c for c in second.contributions}["year"].value == 1994.0
    words = {w["word"] for tm in first.text_models for w in tm.words}
    assert words <= {"zombie", "killers", "part", "2"}
    for exp, present in ((first, {"Action"}), (second, {"Documentary"})):
        for c in exp.contributions:
            if c.feature.startswith("genre:"):
                assert c.value == float(c.feature[6:] in present), c
    assert not any("no year" in r for r in second.reasons)


def test_majority_explains_with_its_prior(fitted, data):
    frame, y = data
    (exp,) = explain(fitted["majority"], frame.iloc[:1])
    assert exp.contributions == []
    assert exp.probability == pytest.approx(float(np.mean(y[:1200])))
    assert "like-rate" in exp.reasons[0]


def test_a_foreign_model_cannot_explain(data):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ExplainUnsupportedError, match="not a catalogue pipeline"):
        explain(LogisticRegression(), data[0].head(1))
