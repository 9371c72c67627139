"""The warehouse's ``predictions`` table: batch scores, one row per (tconst, model_version).

The one module that reads or writes that table (and the unrated-movies extract that feeds
it). It goes through the warehouse interface only (``Session`` methods every backend
implements: ``query_to_parquet``, ``matching_keys``, ...), so a new backend needs nothing
here:

- :func:`extract_unrated` streams the movies to score from the raw tables into Parquet;
- :func:`scored_lookup` tells a scoring run which rows the same model already scored on the
  same input (``data_md5``), which is what makes a re-run incremental;
- :func:`write_predictions` publishes a run's scores in ONE transaction (re-scoring
  replaces), so a run killed midway leaves the previous table exactly as it was;
- :func:`read_predictions_with_ratings` joins stored scores with the ratings that have
  arrived since (the delayed ground truth).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdbops.config import Config
from imdbops.dataops.warehouse_backends import (
    WarehouseError,
    get_warehouse,
    sql_literal,
    transaction,
)
from imdbops.failpoints import failpoint
from imdbops.log import get_logger
from imdbops.movies import MODEL_FIELDS, MOVIE_FIELDS, MovieField

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    import pyarrow as pa

log = get_logger("dataops.predictions_store")

# In the model schema (DuckDB: ``main``; PostgreSQL: ``warehouse.model_schema``).
TABLE = "predictions"
# Column order of the table and of every scores file that is published into it.
COLUMNS: dict[str, str] = {
    "tconst": "VARCHAR",
    "probability": "DOUBLE",
    "label": "INTEGER",
    "model_version": "VARCHAR",
    "data_md5": "VARCHAR",
    "scored_at": "TIMESTAMP",
}
# The unrated extract's columns: the movie record's id and model fields, read from IMDb's
# title_basics (a field the dumps do not hold is null).
UNRATED_FIELDS: tuple[MovieField, ...] = (
    *(f for f in MOVIE_FIELDS if f.kind == "id"),
    *MODEL_FIELDS,
)


@dataclass
class PublishResult:
    rows: int
    inserted: int
    replaced: int
    table_rows: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _session(cfg: Config, read_only: bool = False) -> Iterator[tuple[Any, Any]]:
    """``(warehouse, session)`` through the backend interface (DuckDB or PostgreSQL)."""
    wh = get_warehouse(cfg)
    with wh.session(read_only=read_only) as session:
        yield wh, session


def _table(wh: Any) -> str:
    return f"{wh.model_schema}.{TABLE}"


def _require_raw(s: Any, cfg: Config) -> None:
    raw = _raw(cfg)
    for table in ("title_basics", "title_ratings"):
        if not s.table_exists(raw, table):
            raise WarehouseError(
                f"warehouse {get_warehouse(cfg).describe()} has no {raw}.{table}; load IMDb's "
                "dumps first: `imdbops data ingest --source imdb --basics ... --ratings ...`"
            )


def _raw(cfg: Config) -> str:
    return cfg.warehouse.raw_schema


def _unrated_column(field: MovieField) -> str:
    sql_type = "double precision" if field.numeric else "varchar"
    if field.raw_column is None:
        return f"cast(null as {sql_type}) as {field.name}"
    value = f"b.{field.raw_column}"
    if field.kind == "genres":
        value = f"coalesce({value}, '')"
    elif field.numeric:
        value = f"cast({value} as {sql_type})"
    return f"{value} as {field.name}"


def unrated_schema() -> pa.Schema:
    """The unrated extract's Parquet schema: text as string, numbers as float64."""
    import pyarrow as pa

    return pa.schema([(f.name, pa.float64() if f.numeric else pa.string()) for f in UNRATED_FIELDS])


def unrated_query(include_rated: bool = False, raw: str = "raw") -> str:
    """Movies in the raw tables (with a title); only those without a rating unless asked."""
    required = [
        f"b.{f.raw_column} is not null"
        for f in UNRATED_FIELDS
        if f.required and f.kind == "text" and f.raw_column
    ]
    where = " and ".join(["b.titleType = 'movie'", *required])
    if not include_rated:
        where += " and r.averageRating is null"
    return (
        f"select {', '.join(_unrated_column(f) for f in UNRATED_FIELDS)}\n"
        f"from {raw}.title_basics b\n"
        f"left join {raw}.title_ratings r on r.tconst = b.tconst\n"
        f"where {where}\norder by b.tconst"
    )


def extract_unrated(
    cfg: Config, out_path: Path, include_rated: bool = False, chunk_rows: int = 100_000
) -> int:
    """Stream the movies to score into Parquet at ``out_path`` (atomically); returns rows.

    Memory stays flat however many titles there are (``Session.query_to_parquet``).
    """
    from imdbops.atomic import atomic_path

    query = unrated_query(include_rated, _raw(cfg))
    with _session(cfg, read_only=True) as (_, s):
        _require_raw(s, cfg)
        with atomic_path(out_path) as tmp:
            return s.query_to_parquet(query, tmp, unrated_schema(), chunk_rows)


def _in_list(values: Any) -> str:
    return ", ".join(sql_literal(str(v)) for v in values)


@contextlib.contextmanager
def scored_lookup(cfg: Config, model_version: str) -> Iterator[Callable[[pa.Table], Any]]:
    """``already(chunk) -> bool array``: rows of ``chunk`` (with ``tconst, data_md5``) that
    ``model_version`` already scored on identical input. All False when nothing is stored.

    Holds a read-only session for the whole run; close it (leave the block) before
    :func:`write_predictions` opens the warehouse for writing. Each chunk is one semi-join
    on its keys (``Session.matching_keys``).
    """
    import numpy as np

    def nothing(chunk: pa.Table) -> Any:
        return np.zeros(chunk.num_rows, dtype=bool)

    if not get_warehouse(cfg).exists():
        yield nothing
        return
    with _session(cfg, read_only=True) as (wh, s):
        if not s.table_exists(wh.model_schema, TABLE):
            yield nothing
            return
        where = f"model_version = {sql_literal(str(model_version))}"

        def already(chunk: pa.Table) -> Any:
            return s.matching_keys(_table(wh), chunk.select(["tconst", "data_md5"]), where)

        yield already


def write_predictions(cfg: Config, scores: Path, batch_rows: int = 100_000) -> PublishResult:
    """Publish a scores Parquet file (columns :data:`COLUMNS`) in one transaction.

    Rows replace the stored row with the same (tconst, model_version). The scores are staged
    batch by batch through the backend's ``write_frame`` (memory stays bounded), then one
    delete + insert. The failpoint ``score.publish`` fires inside the transaction, before
    COMMIT.
    """
    import pyarrow.parquet as pq

    started = time.perf_counter()
    columns = ", ".join(COLUMNS)
    with _session(cfg) as (wh, s):
        table, schema = _table(wh), wh.model_schema
        stage, part = f"{schema}.{TABLE}__stage", f"{TABLE}__part"
        with transaction(s):
            s.lock_for_write()
            s.ensure_schema(schema)
            cols = ", ".join(f"{c} {s.type_name(t)}" for c, t in COLUMNS.items())
            s.execute(f"create table if not exists {table} ({cols})")
            s.execute(f"drop table if exists {stage}")
            s.execute(f"create table {stage} ({cols})")
            for batch in pq.ParquetFile(scores).iter_batches(batch_rows, columns=list(COLUMNS)):
                frame = batch.to_pandas()
                frame["label"] = frame["label"].astype("int64")
                s.execute(f"drop table if exists {schema}.{part}")
                s.write_frame(schema, part, frame)
                s.execute(f"insert into {stage} ({columns}) select {columns} from {schema}.{part}")
                s.execute(f"drop table {schema}.{part}")
            rows, keys = s.rows(
                "select count(*), count(distinct tconst || '/' || model_version) from " + stage
            )[0]
            if rows != keys:
                raise ValueError(
                    f"{scores}: {rows - keys} duplicate tconst row(s) for one model version; "
                    "give every title once per scoring run"
                )
            match = (
                f"exists (select 1 from {stage} s where s.tconst = {table}.tconst "
                f"and s.model_version = {table}.model_version)"
            )
            replaced = s.scalar(f"select count(*) from {table} where {match}")
            s.execute(f"delete from {table} where {match}")
            s.execute(f"insert into {table} ({columns}) select {columns} from {stage}")
            s.execute(f"drop table {stage}")
            failpoint("score.publish")
        total = s.scalar(f"select count(*) from {table}")
    result = PublishResult(
        int(rows), int(rows) - int(replaced), int(replaced), int(total),
        round(time.perf_counter() - started, 3),
    )  # fmt: skip
    log.info(
        "published %d predictions (%d new, %d replaced) into %s",
        result.rows, result.inserted, result.replaced, table,
    )  # fmt: skip
    return result


def read_predictions_with_ratings(
    cfg: Config, api_rows: pd.DataFrame | None = None, since: datetime | None = None
) -> pd.DataFrame:
    """Stored predictions whose title has a rating now, one row per prediction.

    Columns: ``source`` ("batch" or "api"), ``tconst, probability, model_version,
    scored_at, averageRating``. Only ratings that arrived or changed after the score count
    (``title_ratings.last_modified > scored_at``): a movie already rated when it was scored
    tells nothing about predicting the unknown. ``api_rows`` (``tconst, probability,
    model_version, scored_at``) are API predictions from the prediction log; their ratings
    are looked up by tconst and joined here (a read-only session stages nothing). ``since``
    (naive UTC) leaves out predictions scored before it.
    """
    import pandas as pd

    out_cols = ["source", "tconst", "probability", "model_version", "scored_at", "averageRating"]
    empty = pd.DataFrame(
        {
            "source": pd.Series(dtype=object),
            "tconst": pd.Series(dtype=object),
            "probability": pd.Series(dtype=float),
            "model_version": pd.Series(dtype=object),
            "scored_at": pd.Series(dtype="datetime64[us]"),
            "averageRating": pd.Series(dtype=float),
        }
    )
    raw = _raw(cfg)
    parts = []
    with _session(cfg, read_only=True) as (wh, s):
        _require_raw(s, cfg)
        if s.table_exists(wh.model_schema, TABLE):
            window = "" if since is None else f"and p.scored_at >= '{since:%Y-%m-%d %H:%M:%S}'"
            batch = s.frame(
                f"""select 'batch' as source, p.tconst, p.probability, p.model_version,
                           p.scored_at, r.averageRating as rating
                    from {_table(wh)} p join {raw}.title_ratings r on r.tconst = p.tconst
                    where r.averageRating is not null and r.last_modified > p.scored_at
                    {window}"""
            )
            parts.append(batch.rename(columns={"rating": "averageRating"}))
        api = None
        if api_rows is not None and len(api_rows):
            # One copy, and scored_at parsed once, for the window and the join alike.
            api = api_rows[["tconst", "probability", "model_version", "scored_at"]].copy()
            api["scored_at"] = pd.to_datetime(api["scored_at"])
            api["model_version"] = api["model_version"].astype(str)
            if since is not None:
                api = api[api["scored_at"] >= since]
        if api is not None and len(api):
            ratings = s.frame(
                f"select tconst, averageRating as rating, last_modified from {raw}.title_ratings "
                f"where averageRating is not null and tconst in ({_in_list(set(api['tconst']))})"
            )
            ratings["last_modified"] = pd.to_datetime(ratings["last_modified"])
            api = api.merge(ratings, on="tconst")
            api = api[api["last_modified"] > api["scored_at"]].drop(columns="last_modified")
            parts.append(api.rename(columns={"rating": "averageRating"}).assign(source="api"))
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty
    frame = pd.concat([p[out_cols] for p in parts], ignore_index=True)
    frame["scored_at"] = pd.to_datetime(frame["scored_at"]).astype("datetime64[us]")
    frame["probability"] = frame["probability"].astype(float)
    frame["averageRating"] = frame["averageRating"].astype(float)
    frame["model_version"] = frame["model_version"].astype(str)
    return frame.sort_values(["model_version", "scored_at", "tconst"], ignore_index=True)


def count_predictions(cfg: Config, model_version: str | None = None) -> int:
    """Rows in the predictions table (for one model version when given); 0 when absent."""
    if not get_warehouse(cfg).exists():
        return 0
    with _session(cfg, read_only=True) as (wh, s):
        if not s.table_exists(wh.model_schema, TABLE):
            return 0
        sql = f"select count(*) from {_table(wh)}"
        if model_version is not None:
            sql += f" where model_version = {sql_literal(str(model_version))}"
        return int(s.scalar(sql))
