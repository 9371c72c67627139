"""transform_file: raw extract CSV -> processed parquet, with clear errors on bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from imdbops.mlops.transform import to_model_frame
from imdbops.mlops.transform_step import RawDataError, transform_file
from imdbops.movies import MODEL_INPUT_COLUMNS

RAW = """tconst,primaryTitle,genres,startYear,runtimeMinutes,averageRating,numVotes
tt0000001,The Matrix Reloaded,"Action,Sci-Fi",2003,138,7.2,600000
tt0000002,NA,,1999,,5.4,12
tt0000003,Amélie!!,"Comedy,Romance",\\N,122,8.3,700000
"""


def test_transform_file_writes_processed_rows(cfg, tmp_path):
    raw = tmp_path / "movies.csv"
    raw.write_text(RAW)
    out = transform_file(cfg, raw, tmp_path / "out" / "movies.parquet")
    frame = pd.read_parquet(out)
    assert list(frame["tconst"]) == ["tt0000001", "tt0000002", "tt0000003"]
    assert list(frame["label"]) == [1, 0, 1]  # round(5.4) = 5 is not > 5
    assert frame.loc[0, "text"] == "the matrix reloaded"
    assert frame.loc[1, "title"] == "NA"  # a real title, not a missing value
    assert frame.loc[0, "genres"] == "Action,Sci-Fi"
    assert pd.isna(frame.loc[2, "year"]) and pd.isna(frame.loc[1, "runtime_minutes"])
    assert [p.name for p in out.parent.iterdir()] == ["movies.parquet"]  # no temp files left


def test_serving_items_give_the_training_frame(cfg, tmp_path):
    raw = tmp_path / "movies.csv"
    raw.write_text(RAW)
    frame = pd.read_parquet(transform_file(cfg, raw, tmp_path / "m.parquet"))
    items = [
        {"title": "The Matrix Reloaded", "genres": ["sci-fi", "ACTION"], "year": 2003,
         "runtime_minutes": 138},
        {"title": "NA", "genres": [], "year": 1999},
        {"title": "Amélie!!", "genres": ["Romance", "Comedy"], "runtime_minutes": 122},
    ]  # fmt: skip
    pd.testing.assert_frame_equal(to_model_frame(items), to_model_frame(frame[MODEL_INPUT_COLUMNS]))


def test_missing_column_is_named(cfg, tmp_path):
    raw = tmp_path / "movies.csv"
    raw.write_text("tconst,primaryTitle\ntt1,x\n")
    with pytest.raises(RawDataError, match="averageRating"):
        transform_file(cfg, raw, tmp_path / "m.parquet")


def test_missing_rating_is_refused_with_row(cfg, tmp_path):
    raw = tmp_path / "movies.csv"
    raw.write_text(RAW.replace("5.4", ""))
    with pytest.raises(RawDataError, match="row 3"):
        transform_file(cfg, raw, tmp_path / "m.parquet")
