"""The bundled ggplot2 movies converted to IMDb's two tables."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from imdbops.dataops.bundled import (
    EXPECTED_ROWS,
    GENRE_FLAGS,
    read_bundled_movies,
    synthetic_tconsts,
    to_imdb_tables,
    write_imdb_tsv,
)
from imdbops.dataops.sources import BASICS, RATINGS, check_dump


@pytest.fixture(scope="module")
def movies() -> pd.DataFrame:
    return read_bundled_movies()


@pytest.fixture(scope="module")
def tables(movies):
    return to_imdb_tables(movies)


def test_every_bundled_movie_is_converted(movies, tables):
    basics, ratings = tables
    assert len(movies) == EXPECTED_ROWS == 58_788
    assert len(basics) == len(ratings) == EXPECTED_ROWS
    assert list(basics.columns) == BASICS.column_names
    assert list(ratings.columns) == RATINGS.column_names
    assert (basics["titleType"] == "movie").all()
    assert basics["primaryTitle"].tolist() == movies["title"].tolist()
    assert basics["startYear"].tolist() == movies["year"].tolist()
    assert basics["runtimeMinutes"].tolist() == movies["length"].tolist()
    assert ratings["averageRating"].tolist() == movies["rating"].tolist()
    assert ratings["numVotes"].tolist() == movies["votes"].tolist()


def test_tconsts_are_imdb_shaped_unique_and_in_the_reserved_range(tables, movies):
    tconst = tables[0]["tconst"]
    assert tconst.is_unique
    assert tconst.str.fullmatch(r"tt9\d{9}").all()
    assert (tables[1]["tconst"] == tconst).all()
    # Titles repeat (remakes) but get distinct ids.
    assert movies["title"].duplicated().sum() > 1000


def test_tconsts_are_stable_and_independent_of_row_order(movies, tables):
    shuffled = movies.sample(frac=1.0, random_state=7)
    again = synthetic_tconsts(shuffled["title"], shuffled["year"])
    assert again.sort_index().tolist() == tables[0]["tconst"].tolist()
    # A changed rating keeps the id: the id hashes the identity, not the content.
    changed = movies.head(3).assign(rating=1.0)
    assert synthetic_tconsts(changed["title"], changed["year"]).tolist() == (
        synthetic_tconsts(movies.head(3)["title"], movies.head(3)["year"]).tolist()
    )


def test_genre_flags_map_to_imdb_genre_names(movies, tables):
    genres = tables[0]["genres"]
    action = movies["Action"] == 1
    assert genres[action].str.split(",").map(lambda g: "Action" in g).all()
    assert not genres[~action].fillna("").str.contains("Action").any()
    both = (
        (movies["Comedy"] == 1)
        & (movies["Drama"] == 1)
        & (movies[list(GENRE_FLAGS)].sum(axis=1) == 2)
    )
    assert (genres[both] == "Comedy,Drama").all()
    assert both.sum() > 0


def test_movies_without_any_genre_keep_an_empty_genre_list(movies, tables):
    none = movies[list(GENRE_FLAGS)].sum(axis=1) == 0
    assert 0.2 < none.mean() < 0.24  # ~22% of the bundled movies
    assert tables[0]["genres"][none].isna().all()  # IMDb writes \N for no genres
    assert tables[0]["genres"][~none].notna().all()


def test_written_dump_is_in_imdb_format(tmp_path, tables):
    basics = tables[0].head(50).copy()
    basics.loc[0, "primaryTitle"] = 'Tab\there "quoted"'
    path = write_imdb_tsv(basics, tmp_path / "title.basics.tsv.gz")
    check_dump(path, BASICS)
    lines = gzip.open(path, "rt", encoding="utf-8").read().splitlines()
    assert lines[0].split("\t") == BASICS.column_names
    first = lines[1].split("\t")
    assert len(first) == 9
    assert first[2] == 'Tab here "quoted"'  # no quoting; the tab cannot survive the format
    assert first[6] == r"\N"  # endYear null
    assert len(lines) == 51
