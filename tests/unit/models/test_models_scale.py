"""The default model at scale: the vocabulary cap applies and is a validated parameter."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from imdbops.dataops.bundled import read_bundled_movies
from imdbops.mlops.models import get_spec

SMALL = {"n_folds": 2, "n_estimators": 60, "learning_rate": 0.1, "min_child_samples": 10}


@pytest.fixture(scope="module")
def titles():
    movies = read_bundled_movies().sample(n=1500, random_state=0)
    X = movies[["title"]].assign(genres="Drama", year=movies["year"], runtime_minutes=np.nan)
    y = (movies["rating"] >= 6.5).astype(int).to_numpy()
    return X.reset_index(drop=True), y


def _stack(titles, **params):
    X, y = titles
    spec = get_spec("default")
    return spec.fit(spec.build({**SMALL, **params}, seed=0), X, y)


def test_vocabulary_cap_keeps_the_commonest_ngrams(titles):
    free = _stack(titles)[-1]
    assert len(free.char_.vocabulary_) > 3_000  # so the cap below bites
    capped_pipe = _stack(titles, max_vocab=1_000)
    capped = capped_pipe[-1]
    assert len(capped.char_.vocabulary_) == 1_000
    assert len(capped.word_.vocabulary_) <= 1_000
    assert set(capped.char_.vocabulary_) <= set(free.char_.vocabulary_)
    # Each kept n-gram occurs at least as often as any dropped one.
    X, _ = titles
    analyze = free.char_.build_analyzer()
    by_name = Counter(g for t in capped_pipe[0].transform(X)["text"] for g in analyze(t))
    kept = [by_name[g] for g in capped.char_.vocabulary_]
    dropped = [by_name[g] for g in free.char_.vocabulary_ if g not in capped.char_.vocabulary_]
    assert min(kept) >= max(dropped)
    proba = capped_pipe.predict_proba(X.head(5))[:, 1]
    assert ((proba > 0) & (proba < 1)).all()


def test_vocabulary_cap_is_validated():
    with pytest.raises(ValueError, match="max_vocab"):
        get_spec("default").validate({"max_vocab": 10})


def test_skops_round_trip_keeps_the_vocabularies_and_leaves_the_model_untouched(titles):
    import skops.io as sio

    from imdbops.mlops.models import skops_trusted_types

    pipe = _stack(titles)
    stack = pipe[-1]
    word, char = dict(stack.word_.vocabulary_), dict(stack.char_.vocabulary_)
    blob = sio.dumps(pipe)
    # Saving must not strip the live model (its state is copied, not edited in place).
    assert stack.char_.vocabulary_ == char and "char_terms" not in stack.__dict__
    loaded = sio.loads(blob, trusted=skops_trusted_types())
    assert loaded[-1].word_.vocabulary_ == word
    assert loaded[-1].char_.vocabulary_ == char
    X, _ = titles
    np.testing.assert_allclose(loaded.predict_proba(X.head(50)), pipe.predict_proba(X.head(50)))
    # The vocabularies travel as two arrays each, not as one skops node per n-gram.
    assert len(char) > 3_000 and blob.count(b"DictNode") < 100


def test_blender_fits_a_stratified_sample_past_blend_max_rows(titles, monkeypatch):
    import lightgbm as lgb

    seen = []
    fit = lgb.LGBMClassifier.fit

    def recording(self, X, y, *args, **kwargs):
        seen.append((len(X), float(np.mean(y))))
        return fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(lgb.LGBMClassifier, "fit", recording)
    _, y = titles
    capped = _stack(titles, blend_max_rows=1_000)
    uncapped = _stack(titles)
    assert seen[0][0] == 1_000 and abs(seen[0][1] - y.mean()) < 0.002  # class shares kept
    assert seen[1][0] == len(y)  # under the cap (the bundled data): every row, as before
    X, _ = titles
    assert np.isfinite(capped.predict_proba(X.head(5))).all()
    assert not np.allclose(capped.predict_proba(X)[:, 1], uncapped.predict_proba(X)[:, 1])


def test_a_stack_saved_before_a_parameter_existed_loads_with_its_default(titles):
    stack = _stack(titles)[-1]
    state = stack.__getstate__()
    del state["blend_max_rows"]  # as pickled by a version without the parameter
    old = type(stack).__new__(type(stack))
    old.__setstate__(state)
    assert old.get_params()["blend_max_rows"] == 50_000
    np.testing.assert_array_equal(
        old.predict_proba(_stack_input(titles)), stack.predict_proba(_stack_input(titles))
    )


def _stack_input(titles):
    from imdbops.mlops.models.features import PrepareInput

    return PrepareInput().transform(titles[0].head(20))


def test_past_blend_max_rows_the_out_of_fold_models_use_n_folds_large(titles, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    fits = []
    fit = LogisticRegression.fit

    def counting(self, X, y, *args, **kwargs):
        fits.append(X.shape[0])
        return fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", counting)
    _, y = titles
    _stack(titles, n_folds=4, n_folds_large=3)  # 1,500 rows: under the cap
    assert len(fits) == 2 * 4 + 2  # two base models: four fold models and a final one each
    fits.clear()
    _stack(titles, n_folds=4, n_folds_large=3, blend_max_rows=1_000)
    assert len(fits) == 2 * 3 + 2
    assert max(fits[:-2]) <= round(len(y) * 2 / 3) + 1 and fits[-1] == len(y)
