"""The SQL extract against a warehouse holding the model table (created directly, no dbt)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from support.warehouse_kit import model_table

from imdbops.dataops.extract import (
    ExtractError,
    content_hash,
    extract_movies,
    extract_to_file,
)
from imdbops.dataops.warehouse import ingest_imdb
from imdbops.dataops.warehouse_backends import WarehouseError, get_warehouse, sql_literal
from imdbops.movies import RAW_EXTRACT_COLUMNS

ROWS = [
    # tconst, primaryTitle, originalTitle, startYear, runtimeMinutes, genres, isAdult, rating, votes
    ("tt0000030", "Gamma", "Gamma", 2015, 100, "Drama", 0, 7.5, 900),
    ("tt0000010", "Alpha", "Alpha", 1999, None, "Action,Comedy", 0, 6.0, 10),
    ("tt0000020", "Beta", "Beta", None, 90, None, 0, 4.5, 3),
    ("tt0000040", "Delta", "Delta", 2020, 80, "Comedy", 0, 8.1, 12000),
]


@pytest.fixture
def warehouse(cfg):
    wh = get_warehouse(cfg)
    with wh.session() as s:
        s.ensure_schema(wh.model_schema)
        s.execute(
            f"""create table {wh.model_table} (tconst VARCHAR, primaryTitle VARCHAR,
            originalTitle VARCHAR, startYear INTEGER, runtimeMinutes INTEGER, genres VARCHAR,
            isAdult INTEGER, averageRating {s.type_name("DOUBLE")}, numVotes BIGINT,
            last_modified TIMESTAMP)"""
        )
        values = ", ".join(
            "(" + ", ".join(map(sql_literal, row)) + ", current_timestamp)" for row in ROWS
        )
        s.execute(f"insert into {wh.model_table} values {values}")
    return cfg


def update(cfg, sql: str) -> None:
    with get_warehouse(cfg).session() as s:
        s.execute(sql)


def test_default_extract_keeps_every_rated_movie_in_the_contract_shape(warehouse):
    frame, meta = extract_movies(warehouse)
    assert list(frame.columns) == list(RAW_EXTRACT_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        "tconst": "object",
        "primaryTitle": "object",
        "genres": "object",
        "startYear": "Int64",
        "runtimeMinutes": "Int64",
        "averageRating": "float64",
        "numVotes": "Int64",
    }
    assert frame["tconst"].tolist() == ["tt0000010", "tt0000020", "tt0000030", "tt0000040"]
    assert frame.loc[1, "genres"] == ""  # no genres: kept, with an empty list
    assert pd.isna(frame.loc[1, "startYear"]) and pd.isna(frame.loc[0, "runtimeMinutes"])
    assert meta.rows == 4 and meta.columns == list(RAW_EXTRACT_COLUMNS)
    assert meta.table == model_table(warehouse)
    assert "order by tconst" in meta.query
    assert meta.content_hash == content_hash(frame) and len(meta.content_hash) == 64


def test_strict_filters_min_year_and_max_rows(warehouse):
    warehouse.warehouse.strict_filters = True
    assert extract_movies(warehouse)[0]["tconst"].tolist() == ["tt0000030", "tt0000040"]
    warehouse.warehouse.strict_filters = False
    warehouse.warehouse.min_year = 2000
    assert extract_movies(warehouse)[0]["tconst"].tolist() == ["tt0000030", "tt0000040"]
    warehouse.warehouse.min_year = None
    warehouse.warehouse.max_rows = 2
    assert extract_movies(warehouse)[0]["tconst"].tolist() == ["tt0000010", "tt0000020"]


def test_custom_query_is_conformed_and_ordered(warehouse):
    warehouse.warehouse.extract_query = (
        "select numVotes, averageRating, runtimeMinutes, startYear, genres, primaryTitle, "
        f"tconst, isAdult from {model_table(warehouse)} order by averageRating desc;"
    )
    frame, meta = extract_movies(warehouse)
    assert list(frame.columns) == list(RAW_EXTRACT_COLUMNS)
    assert frame["tconst"].tolist() == sorted(frame["tconst"])
    assert meta.content_hash == extract_movies_default_hash(warehouse)


def extract_movies_default_hash(cfg) -> str:
    cfg.warehouse.extract_query = None
    return extract_movies(cfg)[1].content_hash


def test_custom_query_missing_a_column_is_a_clear_error(warehouse):
    warehouse.warehouse.extract_query = f"select tconst, primaryTitle from {model_table(warehouse)}"
    with pytest.raises(
        ExtractError, match="genres, startYear, runtimeMinutes, averageRating, numVotes"
    ):
        extract_movies(warehouse)
    warehouse.warehouse.extract_query = "select * from no_such_table"
    with pytest.raises(ExtractError, match="no_such_table"):
        extract_movies(warehouse)


def test_hash_is_stable_and_follows_the_data(warehouse):
    first = extract_movies(warehouse)[1].content_hash
    assert extract_movies(warehouse)[1].content_hash == first
    update(warehouse, f"update {model_table(warehouse)} set averageRating = 6.1 "
                      "where tconst = 'tt0000010'")  # fmt: skip
    assert extract_movies(warehouse)[1].content_hash != first


def test_extract_to_file_writes_parquet_and_metadata(warehouse, tmp_path):
    out = tmp_path / "interim" / "extract.parquet"
    meta = extract_to_file(warehouse, out)
    frame = pd.read_parquet(out)
    assert len(frame) == meta.rows == 4
    assert str(frame["startYear"].dtype) == "Int64"
    assert content_hash(frame) == meta.content_hash  # the file round-trips to the same hash
    saved = json.loads((tmp_path / "interim" / "extract.parquet.meta.json").read_text())
    assert saved["content_hash"] == meta.content_hash and saved["rows"] == 4
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_missing_warehouse_or_model_says_what_to_run(cfg, imdb_dumps):
    with pytest.raises(WarehouseError, match="imdbops data ingest"):
        extract_movies(cfg)
    ingest_imdb(cfg, *imdb_dumps)
    with pytest.raises(ExtractError, match="imdbops warehouse build"):
        extract_movies(cfg)
