"""The learnt input vocabulary: counting, the tag round trip, the profile fallback."""

from __future__ import annotations

import pandas as pd

from imdbops.mlops import vocabulary
from imdbops.mlops.reference_profile import build_reference_profile


def _frame(genres: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"title": [f"m{i}" for i in range(len(genres))], "genres": genres, "year": 2000.0,
         "runtime_minutes": 90.0}
    )  # fmt: skip


def test_counts_genres_per_row_in_imdb_order():
    vocab = vocabulary.from_frame(_frame(["Drama,Romance", "Comedy,Drama", "", "\\N"]))
    assert vocab.rows == 4
    assert vocab.genres == {"Comedy": 1, "Drama": 2, "Romance": 1}
    assert vocab.known == {"Comedy", "Drama", "Romance"}
    assert len(vocab.unknown()) == 25 and vocab.unknown()[0] == "Action"


def test_the_tag_round_trips_and_stays_small():
    vocab = vocabulary.from_frame(_frame(["Action", "Action,Short", "Documentary"]))
    tag = vocab.to_tag()
    assert len(tag) < 500  # MLflow caps tag values at a few thousand characters
    back = vocabulary.from_tag(tag)
    assert back.genres == vocab.genres and back.rows == 3


def test_an_unreadable_tag_is_treated_as_missing():
    assert vocabulary.from_tag(None) is None
    assert vocabulary.from_tag("not json") is None
    assert vocabulary.from_tag('{"genres": 3}') is None


def test_the_reference_profile_gives_the_same_counts():
    frame = _frame(["Drama"] * 7 + ["Comedy,Drama"] * 3 + ["Short"] * 2)
    profile = build_reference_profile(frame, [0.5] * len(frame))
    assert vocabulary.from_profile(profile).genres == vocabulary.from_frame(frame).genres
    assert vocabulary.from_profile(profile).rows == 12
