"""Dated snapshots: titles appear when released, ratings arrive later and then move a little,
in IMDb's own file format."""

from __future__ import annotations

import gzip
from datetime import date

import numpy as np
import pandas as pd
import pytest
from support.imdb_dumps import write_dumps

from imdbops.replay.snapshots import (
    SnapshotPlan,
    SnapshotSourceError,
    add_months,
    load_movies,
    write_snapshots,
)


def _movies(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    years = rng.integers(1995, 2004, n)
    return pd.DataFrame(
        {
            "tconst": [f"tt{1000000 + i}" for i in range(n)],
            "titleType": "movie",
            "primaryTitle": [f"Movie {i}" for i in range(n)],
            "originalTitle": [f"Movie {i}" for i in range(n)],
            "isAdult": 0,
            "startYear": years,
            "endYear": pd.array([pd.NA] * n, dtype="Int64"),
            "runtimeMinutes": pd.array(rng.integers(60, 150, n), dtype="Int64"),
            "genres": rng.choice(["Drama", "Comedy,Romance", None], n),
            "averageRating": rng.uniform(2, 9, n).round(1),
            "numVotes": rng.integers(5, 5000, n),
        }
    )


def _read(path) -> pd.DataFrame:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh, sep="\t", na_values=["\\N"], keep_default_na=False, quoting=3)


def test_titles_appear_when_released_and_ratings_arrive_later_then_move(tmp_path):
    movies = _movies()
    plan = SnapshotPlan(first=date(2000, 12, 31), periods=3, rating_delay_days=365)
    snaps = list(write_snapshots(movies, plan, tmp_path))
    assert [s.date for s in snaps] == [date(2000, 12, 31), date(2001, 12, 31), date(2002, 12, 31)]
    previous = None
    for snap in snaps:
        basics, ratings = _read(snap.basics), _read(snap.ratings)
        assert list(basics.columns)[:3] == ["tconst", "titleType", "primaryTitle"]
        assert basics["startYear"].max() <= snap.date.year  # nothing from the future
        assert set(ratings["tconst"]) <= set(basics["tconst"])
        assert snap.unrated == len(basics) - len(ratings) > 0  # released, not rated yet
        # This year's titles are mostly unrated: their ratings are about a year away.
        this_year = basics[basics["startYear"] == snap.date.year]["tconst"]
        assert this_year.isin(ratings["tconst"]).mean() < 0.5
        assert set(snap.new_releases["tconst"]) <= set(basics["tconst"])
        if previous is not None:
            assert set(previous["tconst"]) < set(ratings["tconst"])  # a rating never leaves
            assert snap.ratings_arrived == len(ratings) - len(previous)
            both = ratings.merge(previous, on="tconst", suffixes=("", "_before"))
            moved = (both["averageRating"] - both["averageRating_before"]).abs()
            assert 0 < moved.max() <= 0.5 and moved.mean() < 0.1
        previous = ratings
    # Nulls are IMDb's \N, as `data ingest --source imdb` expects.
    with gzip.open(snaps[-1].basics, "rt") as fh:
        assert "\\N" in fh.read()


def test_a_subset_is_the_same_titles_every_time(tmp_path):
    movies = _movies()
    plan = SnapshotPlan(first=date(2003, 12, 31), periods=1, max_titles=100)
    a = next(write_snapshots(movies, plan, tmp_path / "a"))
    b = next(write_snapshots(movies.sample(frac=1, random_state=1), plan, tmp_path / "b"))
    assert a.titles == b.titles <= 100
    assert _read(a.basics)["tconst"].tolist() == _read(b.basics)["tconst"].tolist()


def test_imdb_dumps_are_a_source_and_titles_without_a_year_are_left_out(tmp_path):
    basics, ratings = write_dumps(tmp_path)
    movies = load_movies(basics, ratings)
    assert "tt0000005" not in set(movies["tconst"])  # no start year: cannot be placed in time
    assert movies.loc[movies["tconst"] == "tt0000006", "averageRating"].isna().all()
    with pytest.raises(SnapshotSourceError, match="both --basics and --ratings"):
        load_movies(basics, None)
    (tmp_path / "bad.tsv.gz").write_bytes(gzip.compress(b"a\tb\n1\t2\n"))
    with pytest.raises(SnapshotSourceError, match="missing column"):
        load_movies(tmp_path / "bad.tsv.gz", ratings)


def test_months_add_up_to_the_end_of_short_months():
    assert add_months(date(2001, 1, 31), 1) == date(2001, 2, 28)
    assert add_months(date(2001, 12, 31), 12) == date(2002, 12, 31)
    assert add_months(date(2001, 12, 31), -12) == date(2000, 12, 31)
