"""CharNgramTfidf counts per distinct word and must equal sklearn's char_wb TF-IDF exactly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from imdbops.mlops.models import ngrams
from imdbops.mlops.models.ngrams import CharNgramTfidf

WORDS = [
    "the",
    "night",
    "of",
    "a",
    "ī",
    "amélie",
    "x",
    "love",
    "2001",
    "space",
    "odyssey",
    "l'amour",
    "über",
    "ab",
    "o",
]


def titles(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(0, 6))
        words = list(rng.choice(WORDS, k))
        # Odd whitespace (runs, tabs) and upper case: both paths must normalise alike.
        out.append(("  " if rng.random() < 0.1 else " ").join(words).upper() + "\t")
    out[3] = ""  # a title with no words at all
    return out


@pytest.mark.parametrize(
    "options",
    [
        {"ngram_range": (2, 5), "min_df": 2, "max_features": 500_000, "sublinear_tf": True},
        {"ngram_range": (1, 3), "min_df": 1},
        {"ngram_range": (2, 5), "min_df": 1, "max_features": 40, "sublinear_tf": True},
    ],
)
@pytest.mark.parametrize("threshold", [1, 50])
def test_same_vocabulary_and_matrix_as_sklearn(options, threshold, monkeypatch):
    monkeypatch.setattr(ngrams, "WORDWISE_MIN_DOCS", threshold)
    train, test = titles(600), titles(300, seed=1) + ["brand new words zzz"]
    ours = CharNgramTfidf(analyzer="char_wb", dtype=np.float32, **options)
    theirs = TfidfVectorizer(analyzer="char_wb", dtype=np.float32, **options)
    A, B = theirs.fit_transform(train), ours.fit_transform(train)
    assert ours.vocabulary_ == theirs.vocabulary_
    assert type(A) is type(B) and A.dtype == B.dtype
    assert (A != B).nnz == 0
    np.testing.assert_array_equal(ours.idf_, theirs.idf_)
    for docs in (test, test[:5], test[:1], test[3:4]):  # threshold 50: sklearn's loop for few
        A, B = theirs.transform(docs), ours.transform(docs)
        assert (A != B).nnz == 0 and A.shape == B.shape
        np.testing.assert_array_equal(A.indices, B.indices)


def test_word_wise_path_is_taken_for_many_titles(monkeypatch):
    """The equality above must be the word-wise code's, not sklearn's loop's."""
    cut = []
    original = CharNgramTfidf._char_wb_ngrams

    def counting(self, text):
        cut.append(text)
        return original(self, text)

    monkeypatch.setattr(CharNgramTfidf, "_char_wb_ngrams", counting)
    docs = titles(ngrams.WORDWISE_MIN_DOCS * 4)
    CharNgramTfidf(analyzer="char_wb", ngram_range=(2, 4)).fit(docs)
    distinct = {w for d in docs for w in d.lower().split()}
    assert sorted(cut) == sorted(distinct)  # each distinct word cut once, no whole titles


def test_empty_vocabulary_is_refused_like_sklearn():
    with pytest.raises(ValueError, match="empty vocabulary"):
        CharNgramTfidf(analyzer="char_wb").fit([""] * ngrams.WORDWISE_MIN_DOCS)
