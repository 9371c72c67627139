"""The movie record (``movies.MOVIE_FIELDS``) walked through every consumer that carries a movie.

Each consumer below reports the record fields it actually carries, found by running it
(a request model validating, a Parquet file written and read back, a query run on DuckDB, a
CSV scored, ``--help`` printed); a consumer that misses a field fails its case, naming it.
docs/architecture.md has the recipe for adding a field.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from imdbops.movies import (
    FIELDS,
    MODEL_FIELDS,
    MODEL_INPUT_COLUMNS,
    MOVIE_FIELD_NAMES,
    MOVIE_FIELDS,
    NUMERIC_INPUTS,
    PROCESSED_COLUMNS,
    record_document,
)

ALL = set(MOVIE_FIELD_NAMES)
MODEL = {f.name for f in MODEL_FIELDS}


def example_movie() -> dict:
    """A value for every field, inside its bounds (from the record, not hand-written)."""
    values = {}
    for f in MOVIE_FIELDS:
        if f.example is not None:
            values[f.name] = f.example
        elif f.numeric:
            values[f.name] = (f.minimum or 0) + 1
        elif f.kind == "genres":
            values[f.name] = ["Drama"]
        else:
            values[f.name] = "x"
    return values


def api_request_model(tmp_path: Path) -> set[str]:
    from imdbops.serving.schemas import PredictRequest

    parsed = PredictRequest.model_validate_json(json.dumps({"items": [example_movie()]}))
    item = parsed.items[0]
    return {name for name in ALL if getattr(item, name, None) is not None}


def openapi_document(tmp_path: Path) -> set[str]:
    from imdbops.config import load_config
    from imdbops.serving.app import create_app

    cfg = load_config(paths={"root": tmp_path})
    spec = create_app(cfg, load_on_startup=False).openapi()
    item = spec["components"]["schemas"]["MovieItem"]
    assert set(item["required"]) == {f.name for f in MOVIE_FIELDS if f.required}
    return set(item["properties"])


def prediction_log(tmp_path: Path) -> set[str]:
    from imdbops.monitoring.log_parts import write_parts

    row = {"ts": 1_700_000_000.0, "request_id": "r", **example_movie()}
    row.update(probability=0.7, label=1, model_version="1", latency_ms=1.0)
    write_parts(tmp_path, [row])
    (part,) = tmp_path.glob("date=*/*.parquet")
    stored = pq.read_table(part).to_pylist()[0]
    return {name for name in ALL if stored.get(name) not in (None, "")}


def wal_record(tmp_path: Path) -> set[str]:
    from imdbops.monitoring import wal

    segment = wal.create(tmp_path)
    row = {"ts": 1_700_000_000.0, **example_movie(), "probability": 0.5, "label": 1}
    for name in NUMERIC_INPUTS:  # a number that is not a number: the reader must refuse it
        bad = {**row, name: "not a number"}
        wal.append(segment, wal.encode(bad), 1)
    wal.append(segment, wal.encode(row), 1)
    rows, corrupt = wal.read(segment)
    wal.remove(segment)
    assert corrupt == len(NUMERIC_INPUTS), "the WAL reader does not check every record number"
    return set(rows[0]) & ALL


def drift_window(tmp_path: Path) -> set[str]:
    from imdbops.monitoring.window import LOG_COLUMNS

    return set(LOG_COLUMNS) & ALL | {"tconst"}  # the drift job reads the model's inputs


def batch_input_reader(tmp_path: Path) -> set[str]:
    import pandas as pd

    from imdbops.scoring.inputs import OPTIONAL, REQUIRED, read_chunks

    movie = example_movie()
    movie["genres"] = ",".join(movie["genres"])
    path = tmp_path / "movies.csv"
    pd.DataFrame([movie]).to_csv(path, index=False)
    (chunk,) = read_chunks(path)
    assert set(REQUIRED) | set(OPTIONAL) == ALL
    carried = {c for c in chunk.frame.columns if chunk.frame[c].notna().all()}
    return carried | ({"tconst"} if chunk.tconst is not None else set())


def warehouse_unrated_query(tmp_path: Path) -> set[str]:
    from imdbops.dataops.predictions_store import unrated_query, unrated_schema

    con = duckdb.connect()
    con.execute("create schema raw")
    raw = {f.raw_column: f for f in MOVIE_FIELDS if f.raw_column}
    columns = ", ".join(
        f"{c} {'bigint' if f.numeric else 'varchar'}" for c, f in raw.items() if c != "tconst"
    )
    con.execute(f"create table raw.title_basics (tconst varchar, titleType varchar, {columns})")
    con.execute("create table raw.title_ratings (tconst varchar, averageRating double)")
    movie = example_movie()
    values = {c: movie[f.name] for c, f in raw.items()}
    values["genres"] = ",".join(values["genres"])
    names = ", ".join(["titleType", *values])
    con.execute(
        f"insert into raw.title_basics ({names}) values (?{', ?' * len(values)})",
        ["movie", *values.values()],
    )
    result = con.execute(unrated_query()).df()
    assert list(result.columns) == unrated_schema().names
    row = result.astype(object).where(result.notna(), None).to_dict("records")[0]
    fields_without_source = {f.name for f in MOVIE_FIELDS if not f.raw_column}
    return {name for name, value in row.items() if value is not None} | fields_without_source


def model_frame(tmp_path: Path) -> set[str]:
    from imdbops.mlops.models.features import PrepareInput
    from imdbops.mlops.transform import to_model_frame

    frame = to_model_frame([example_movie()])
    assert list(frame.columns) == MODEL_INPUT_COLUMNS
    prepared = PrepareInput().transform(frame)
    assert set(NUMERIC_INPUTS) <= set(prepared.columns)
    return {c for c in frame.columns if frame[c].notna().all()} | (ALL - MODEL)


def processed_frame(tmp_path: Path) -> set[str]:
    return set(PROCESSED_COLUMNS) & ALL


def page_form(tmp_path: Path) -> set[str]:
    # The page builds its inputs from this document (GET /api/v1/movie-record).
    doc = record_document()
    app_js = (Path(__file__).parents[3] / "src/imdbops/serving/static/app.js").read_text(
        encoding="utf-8"
    )
    assert 'call("/movie-record")' in app_js
    return {f["name"] for f in doc["fields"]}


def cli_predict_options(tmp_path: Path) -> set[str]:
    from typer.testing import CliRunner

    from imdbops.cli import app

    out = CliRunner().invoke(app, ["predict", "--help"], terminal_width=200).output
    return {f.name for f in MODEL_FIELDS if f.flag in out or f.name.upper() in out} | (ALL - MODEL)


CONSUMERS = [
    api_request_model,
    openapi_document,
    prediction_log,
    wal_record,
    drift_window,
    batch_input_reader,
    warehouse_unrated_query,
    model_frame,
    processed_frame,
    page_form,
    cli_predict_options,
]


@pytest.mark.parametrize("consumer", CONSUMERS, ids=lambda c: c.__name__)
def test_every_consumer_carries_every_record_field(consumer, tmp_path):
    carried = consumer(tmp_path)
    missing = sorted(ALL - carried)
    assert not missing, f"{consumer.__name__} misses record field(s) {missing}"


def test_the_openapi_document_states_each_fields_bounds_and_the_genre_enum(tmp_path):
    from imdbops.genres import IMDB_GENRES
    from imdbops.serving.schemas import field_json_schema

    for field in MOVIE_FIELDS:
        schema = json.dumps(field_json_schema(field))
        for bound in (field.minimum, field.maximum, field.max_length, field.pattern):
            if bound is not None:
                assert json.dumps(bound) in schema, (field.name, bound)
    genres = field_json_schema(FIELDS["genres"])
    assert genres["items"]["enum"] == list(IMDB_GENRES)
