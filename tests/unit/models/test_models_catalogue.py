"""Every model name builds, fits on a small sample and answers P(like) for any input shape."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest

from imdbops.mlops.models import MODEL_NAMES, UnknownModelError, get_spec, skops_trusted_types

WORDS_GOOD = ["love", "story", "river", "symphony", "garden", "letters", "journey", "memory"]
WORDS_BAD = ["zombie", "massacre", "bikini", "slasher", "chainsaw", "revenge", "ninja", "mutant"]
WORDS_ANY = ["night", "city", "man", "woman", "blue", "last", "world", "house", "red", "time"]
GENRES = ["Drama", "Comedy", "Action", "Documentary", "Romance", "Short", "Animation", ""]


def make_frame(
    n: int, seed: int, noise: float = 0.2, word_rate: float = 1.0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic titles with a real signal in words, genres and year (label noise ``noise``).

    A share ``word_rate`` of titles carries a telling word; the rest only neutral words.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    rows = []
    for label in y:
        pool = (WORDS_GOOD if label else WORDS_BAD) if rng.random() < word_rate else WORDS_ANY
        words = list(rng.choice(WORDS_ANY, 2)) + [str(rng.choice(pool))]
        rng.shuffle(words)
        genre = str(rng.choice(GENRES[:4] if label else GENRES[2:]))
        rows.append(
            {
                "title": " ".join(words).title(),
                "genres": genre,
                "year": float(rng.normal(1980 if label else 2005, 10)),
                "runtime_minutes": float(rng.normal(100, 20)),
            }
        )
    flip = rng.random(n) < noise
    return pd.DataFrame(rows), np.where(flip, 1 - y, y)


SMALL = {"n_folds": 2, "n_estimators": 60, "learning_rate": 0.1, "min_child_samples": 10}


def small_params(name: str) -> dict:
    spec = get_spec(name)
    return {k: v for k, v in SMALL.items() if k in spec.rules} | (
        {"epochs": 3} if name == "reference" else {}
    )


@pytest.fixture(scope="module")
def sample():
    return make_frame(400, seed=1)


@pytest.fixture(scope="module")
def fitted(sample):
    X, y = sample
    out = {}
    for name in MODEL_NAMES:
        spec = get_spec(name)
        pipe = spec.build(small_params(name), seed=0)
        out[name] = spec.fit(pipe, X.iloc[:300], y[:300], X.iloc[300:], y[300:])
    return out


def test_required_names_are_offered():
    assert {"default", "reference", "logreg", "majority"} <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", ["default", "reference", "logreg", "majority"])
def test_probabilities_for_every_input_shape(fitted, name):
    pipe = fitted[name]
    frames = {
        "full": pd.DataFrame(
            {
                "title": ["Love Story"],
                "genres": ["Drama"],
                "year": [1970.0],
                "runtime_minutes": [99.0],
            }
        ),
        "blank numbers": pd.DataFrame(
            {
                "title": ["Zombie Massacre"],
                "genres": ["Action"],
                "year": [np.nan],
                "runtime_minutes": [np.nan],
            }
        ),
        "no number columns": pd.DataFrame({"title": ["Blue City"], "genres": ["Comedy"]}),
        "empty genres, odd title": pd.DataFrame(
            {"title": ["  !!  "], "genres": [""], "year": [np.nan], "runtime_minutes": [np.nan]}
        ),
    }
    for label, frame in frames.items():
        proba = pipe.predict_proba(frame)
        assert proba.shape == (1, 2), label
        assert 0.0 <= proba[0, 1] <= 1.0, label
        assert math.isclose(proba[0].sum(), 1.0, rel_tol=1e-6), label


def test_reference_reports_every_epoch(sample):
    X, y = sample
    spec = get_spec("reference")
    seen = []
    pipe = spec.build({"epochs": 4}, seed=0)
    spec.fit(
        pipe,
        X.iloc[:300],
        y[:300],
        X.iloc[300:],
        y[300:],
        on_epoch=lambda e, m: seen.append((e, m)),
    )
    assert [e for e, _ in seen] == [1, 2, 3, 4]
    for _, metrics in seen:
        assert set(metrics) == {"train_loss", "val_loss"}
        assert all(math.isfinite(v) and v > 0 for v in metrics.values())


def test_unknown_model_lists_allowed_names():
    with pytest.raises(UnknownModelError) as err:
        get_spec("xgboost")
    for name in MODEL_NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("name", "params", "fragment"),
    [
        ("default", {"nope": 1}, "allowed: C_emb"),
        ("default", {"learning_rate": -1.0}, "learning_rate"),
        ("default", {"embedding": "bert"}, "'none', 'minilm'"),
        ("default", {"num_leaves": 2.5}, "num_leaves"),
        ("reference", {"epochs": 0}, "[1, 200]"),
        ("logreg", {"C": float("nan")}, "'C'"),
        ("logreg", {"genre_pairs": "yes"}, "True, False"),
        ("majority", {"C": 1.0}, "(none)"),
    ],
)
def test_impossible_params_name_the_allowed_values(name, params, fragment):
    with pytest.raises(ValueError) as err:
        get_spec(name).build(params, seed=0)
    assert fragment in str(err.value)


def test_logreg_genre_pairs_can_be_switched_off():
    frame = pd.DataFrame({"title": ["a b", "c d"], "genres": ["Drama,Comedy", "Action"]})
    y = np.array([1, 0])
    widths = {}
    for pairs in (True, False):
        model = get_spec("logreg").build({"genre_pairs": pairs, "min_df": 1}, seed=0)
        model.fit(frame, y)
        widths[pairs] = (
            model.named_steps["features"]
            .transform(model.named_steps["prepare"].transform(frame))
            .shape[1]
        )
    assert widths[True] > widths[False]


def test_letter_case_does_not_change_the_answer(fitted):
    for name in ("default", "logreg", "reference"):
        frame = pd.DataFrame(
            {
                "title": ["The Zombie Garden", "THE ZOMBIE GARDEN", "the zombie garden"],
                "genres": ["Drama"] * 3,
                "year": [np.nan] * 3,
                "runtime_minutes": [np.nan] * 3,
            }
        )
        p = fitted[name].predict_proba(frame)[:, 1]
        assert np.allclose(p, p[0]), name


def test_default_pickles_and_round_trips_through_skops(fitted, sample, tmp_path):
    import skops.io as sio

    X, _ = sample
    pipe = fitted["default"]
    expected = pipe.predict_proba(X)
    assert np.array_equal(pickle.loads(pickle.dumps(pipe)).predict_proba(X), expected)
    path = tmp_path / "model.skops"
    sio.dump(pipe, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert set(untrusted) <= set(skops_trusted_types()), set(untrusted) - set(skops_trusted_types())
    loaded = sio.load(path, trusted=skops_trusted_types())
    assert np.array_equal(loaded.predict_proba(X), expected)


def test_input_must_be_a_frame_with_a_title(fitted):
    with pytest.raises(ValueError, match="'title'"):
        fitted["default"].predict_proba(pd.DataFrame({"name": ["x"]}))
    with pytest.raises(TypeError, match="to_model_frame"):
        fitted["logreg"].predict_proba([{"title": "x"}])


def test_default_uses_year_when_given_and_degrades_gracefully():
    from sklearn.metrics import roc_auc_score

    # Half the titles say nothing, so year carries signal the text alone cannot give.
    X, y = make_frame(900, seed=7, noise=0.0, word_rate=0.5)
    X_test, y_test = make_frame(600, seed=8, noise=0.0, word_rate=0.5)
    rng = np.random.default_rng(9)
    X["genres"] = rng.choice(GENRES, len(X))
    X_test["genres"] = rng.choice(GENRES, len(X_test))
    models = {}
    for name in ("default", "logreg"):
        spec = get_spec(name)
        models[name] = spec.fit(spec.build(small_params(name), seed=0), X, y)
    blank = X_test.assign(year=np.nan, runtime_minutes=np.nan)
    auc = {
        "logreg": roc_auc_score(y_test, models["logreg"].predict_proba(X_test)[:, 1]),
        "default": roc_auc_score(y_test, models["default"].predict_proba(X_test)[:, 1]),
        "default blank": roc_auc_score(y_test, models["default"].predict_proba(blank)[:, 1]),
    }
    assert auc["default"] > auc["logreg"] + 0.05, auc
    assert auc["default blank"] > auc["logreg"] - 0.03, auc


@pytest.mark.usefixtures("minilm_weights")
def test_default_with_minilm_embedding_fits_and_round_trips(sample, tmp_path):
    import skops.io as sio

    X, y = sample
    spec = get_spec("default")
    pipe = spec.fit(spec.build(SMALL | {"embedding": "minilm", "emb_dims": 8}, seed=0), X, y)
    proba = pipe.predict_proba(X)
    assert ((proba >= 0) & (proba <= 1)).all()
    path = tmp_path / "model.skops"
    sio.dump(pipe, path)
    assert np.array_equal(sio.load(path, trusted=skops_trusted_types()).predict_proba(X), proba)
