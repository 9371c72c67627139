"""The reference profile: contents, size, no raw titles, strict loading."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from imdbops.mlops.reference_profile import (
    ProfileError,
    build_reference_profile,
    derive_features,
    load_profile,
    profile_sample_frame,
    save_profile,
)


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    genres = np.array(["Drama", "Comedy,Romance", "Action,Sci-Fi", "", "Documentary"])
    return pd.DataFrame(
        {
            "title": [f"Secret Title Number {i} of the Night" for i in range(n)],
            "genres": genres[rng.integers(0, len(genres), n)],
            "year": np.where(rng.random(n) < 0.1, np.nan, rng.integers(1920, 2020, n)),
            "runtime_minutes": rng.normal(95, 20, n),
        }
    )


def test_profile_holds_summary_statistics_and_a_bounded_sample():
    frame = _frame(12_000)
    proba = np.linspace(0, 1, len(frame))
    profile = build_reference_profile(frame, proba)
    assert profile["n_rows"] == 12_000
    assert profile["positive_rate"] == pytest.approx((proba >= 0.5).mean())
    assert profile["genre_frequencies"]["Drama"] == pytest.approx(
        (frame["genres"] == "Drama").mean()
    )
    assert profile["genre_frequencies"]["Western"] == 0.0
    assert profile["title_length"]["max"] == frame["title"].str.len().max()
    assert profile["n_tokens"]["quantiles"]["p50"] > 5
    assert "night" in profile["top_tokens"]
    # Seeded sample of 5,000 rows; genres never seen in training are not sampled columns.
    assert len(profile["sample"]["probability"]) == 5000
    assert "genre_western" not in profile["sample_columns"]
    assert {"genre_drama", "genre_sci_fi", "probability"} <= set(profile["sample_columns"])
    text = json.dumps(profile)
    assert len(text.encode()) < 1_000_000
    assert "Secret Title Number" not in text  # no raw titles


def test_profile_is_reproducible_for_a_seed():
    frame = _frame(6000)
    a = build_reference_profile(frame, np.full(len(frame), 0.3))
    b = build_reference_profile(frame, np.full(len(frame), 0.3))
    assert a["sample"] == b["sample"]


def test_derived_features_match_between_training_and_serving_inputs():
    frame = pd.DataFrame(
        {
            "title": ["The Matrix Reloaded", "Amélie (2001)!!"],
            "genres": ["Action,Sci-Fi", ""],
            "year": [2003.0, np.nan],
            "runtime_minutes": [138.0, np.nan],
        }
    )
    feats = derive_features(frame, [0.9, 0.2])
    assert feats["n_tokens"].tolist() == [3, 2]
    assert feats["n_genres"].tolist() == [2, 0]
    assert feats["has_year"].tolist() == [1, 0]
    assert feats["genre_sci_fi"].tolist() == [1, 0]
    assert feats["probability"].tolist() == [0.9, 0.2]


def test_save_and_load_round_trip(tmp_path):
    profile = build_reference_profile(_frame(300), np.full(300, 0.6))
    path = save_profile(profile, tmp_path / "reference_profile.json")
    loaded = load_profile(path)
    sample = profile_sample_frame(loaded)
    assert len(sample) == 300 and sample["probability"].eq(0.6).all()


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{not json", "not valid JSON"), ('{"profile_version": 99}', "version 1")],
)
def test_bad_profile_files_are_named(tmp_path, content, needle):
    path = tmp_path / "reference_profile.json"
    path.write_text(content)
    with pytest.raises(ProfileError, match=needle) as err:
        load_profile(path)
    assert str(path) in str(err.value)


def test_profile_rejects_mismatched_inputs():
    with pytest.raises(ProfileError, match="missing"):
        build_reference_profile(pd.DataFrame({"title": ["x"]}), [0.5])
    with pytest.raises(ProfileError, match="one probability per row"):
        build_reference_profile(_frame(3), [0.5])
