"""The warehouse's ``predictions`` table: batch scores, one row per (tconst, model_version).

The one module that reads or writes that table (and the unrated-movies extract that feeds
it), so moving the warehouse to another backend means porting only this file:

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
from imdbops.dataops.warehouse_backends import WarehouseError, get_warehouse
from imdbops.failpoints import failpoint
from imdbops.log import get_logger

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = get_logger("dataops.predictions_store")

SCHEMA, TABLE = "main", "predictions"
PREDICTIONS_TABLE = f"{SCHEMA}.{TABLE}"
# Column order of the table and of every scores file that is published into it.
COLUMNS: dict[str, str] = {
    "tconst": "VARCHAR",
    "probability": "DOUBLE",
    "label": "TINYINT",
    "model_version": "VARCHAR",
    "data_md5": "VARCHAR",
    "scored_at": "TIMESTAMP",
}
UNRATED_COLUMNS = ("tconst", "title", "genres", "year", "runtime_minutes")


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
def connect(cfg: Config, read_only: bool = False) -> Iterator[Any]:
    """A DuckDB connection through the warehouse backend (its memory cap, spill folder and
    lock). The predictions table is DuckDB-only so far: its Parquet reads and writes use
    DuckDB's own ``COPY``/``read_parquet``."""
    wh = get_warehouse(cfg)
    if wh.name != "duckdb":
        raise WarehouseError(
            f"batch scoring supports warehouse.backend duckdb only so far (got {wh.name}); "
            "score with a DuckDB warehouse"
        )
    with wh.session(read_only=read_only) as session:
        yield session.con


def _table_exists(con: Any, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _raw(cfg: Config) -> str:
    return cfg.warehouse.raw_schema


def _require_raw(con: Any, cfg: Config) -> None:
    raw = _raw(cfg)
    for table in ("title_basics", "title_ratings"):
        if not _table_exists(con, raw, table):
            raise WarehouseError(
                f"warehouse {cfg.warehouse.path} has no {raw}.{table}; load IMDb's "
                "dumps first: `imdbops data ingest --source imdb --basics ... --ratings ...`"
            )


def unrated_query(include_rated: bool = False, raw: str = "raw") -> str:
    """Movies in the raw tables (with a title); only those without a rating unless asked."""
    where = "b.titleType = 'movie' and b.primaryTitle is not null"
    if not include_rated:
        where += " and r.averageRating is null"
    return (
        "select b.tconst, b.primaryTitle as title, coalesce(b.genres, '') as genres, "
        "cast(b.startYear as double) as year, cast(b.runtimeMinutes as double) as "
        f"runtime_minutes\nfrom {raw}.title_basics b\n"
        f"left join {raw}.title_ratings r on r.tconst = b.tconst\n"
        f"where {where}\norder by b.tconst"
    )


def extract_unrated(cfg: Config, out_path: Path, include_rated: bool = False) -> int:
    """Stream the movies to score into Parquet at ``out_path`` (atomically); returns rows.

    DuckDB writes the file itself, so memory stays flat however many titles there are.
    """
    from imdbops.atomic import atomic_path

    with connect(cfg, read_only=True) as con:
        _require_raw(con, cfg)
        with atomic_path(out_path) as tmp:
            con.execute(
                f"copy ({unrated_query(include_rated, _raw(cfg))}) to '{_sql_path(tmp)}' "
                "(format parquet, compression zstd)"
            )
            rows = con.execute(f"select count(*) from read_parquet('{_sql_path(tmp)}')").fetchone()
    return int(rows[0])


@contextlib.contextmanager
def scored_lookup(cfg: Config, model_version: str) -> Iterator[Callable[[pa.Table], Any]]:
    """``already(chunk) -> bool array``: rows of ``chunk`` (with ``tconst, data_md5``) that
    ``model_version`` already scored on identical input. All False when nothing is stored.

    Holds a read-only connection for the whole run; close it (leave the block) before
    :func:`write_predictions` opens the warehouse for writing.
    """
    import numpy as np

    def nothing(chunk: pa.Table) -> Any:
        return np.zeros(chunk.num_rows, dtype=bool)

    if not Path(cfg.warehouse.path).exists():
        yield nothing
        return
    with connect(cfg, read_only=True) as con:
        if not _table_exists(con, SCHEMA, TABLE):
            yield nothing
            return

        def already(chunk: pa.Table) -> Any:
            import pyarrow as pa

            keyed = chunk.select(["tconst", "data_md5"]).append_column(
                "i", pa.array(np.arange(chunk.num_rows, dtype=np.int64))
            )
            # A fresh cursor: DuckDB refuses register() while another result is open.
            cur = con.cursor()
            try:
                cur.register("score_chunk", keyed)
                hits = cur.execute(
                    f"""select c.i from score_chunk c join {PREDICTIONS_TABLE} p
                        on p.tconst = c.tconst and p.model_version = ?
                        and p.data_md5 = c.data_md5""",
                    [str(model_version)],
                ).fetchnumpy()["i"]
            finally:
                cur.close()
            mask = np.zeros(chunk.num_rows, dtype=bool)
            mask[hits] = True
            return mask

        yield already


def write_predictions(cfg: Config, scores: Path) -> PublishResult:
    """Publish a scores Parquet file (columns :data:`COLUMNS`) in one transaction.

    Rows replace the stored row with the same (tconst, model_version). The failpoint
    ``score.publish`` fires inside the transaction, before COMMIT.
    """
    started = time.perf_counter()
    source = f"read_parquet('{_sql_path(scores)}')"
    columns = ", ".join(COLUMNS)
    with connect(cfg) as con:
        con.execute("begin transaction")
        try:
            cols = ", ".join(f"{c} {t}" for c, t in COLUMNS.items())
            con.execute(f"create table if not exists {PREDICTIONS_TABLE} ({cols})")
            con.execute(f"create temp table publish_stage as select {columns} from {source}")
            rows, keys = con.execute(
                "select count(*), count(distinct (tconst, model_version)) from publish_stage"
            ).fetchone()
            if rows != keys:
                raise ValueError(
                    f"{scores}: {rows - keys} duplicate tconst row(s) for one model version; "
                    "give every title once per scoring run"
                )
            replaced = con.execute(
                f"""delete from {PREDICTIONS_TABLE} p using publish_stage s
                    where p.tconst = s.tconst and p.model_version = s.model_version"""
            ).fetchone()[0]
            con.execute(f"insert into {PREDICTIONS_TABLE} select {columns} from publish_stage")
            con.execute("drop table publish_stage")
            failpoint("score.publish")
            con.execute("commit")
        except BaseException:
            with contextlib.suppress(Exception):
                con.execute("rollback")
            raise
        total = con.execute(f"select count(*) from {PREDICTIONS_TABLE}").fetchone()[0]
    result = PublishResult(
        int(rows), int(rows) - int(replaced), int(replaced), int(total),
        round(time.perf_counter() - started, 3),
    )  # fmt: skip
    log.info(
        "published %d predictions (%d new, %d replaced) into %s",
        result.rows, result.inserted, result.replaced, PREDICTIONS_TABLE,
    )  # fmt: skip
    return result


def read_predictions_with_ratings(
    cfg: Config, api_rows: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Stored predictions whose title has a rating now, one row per prediction.

    Columns: ``source`` ("batch" or "api"), ``tconst, probability, model_version,
    scored_at, averageRating``. Only ratings that arrived or changed after the score count
    (``title_ratings.last_modified > scored_at``): a movie already rated when it was scored
    tells nothing about predicting the unknown. ``api_rows`` (``tconst, probability,
    model_version, scored_at``) are API predictions from the prediction log.
    """
    import pandas as pd

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
    with connect(cfg, read_only=True) as con:
        _require_raw(con, cfg)
        parts = []
        if _table_exists(con, SCHEMA, TABLE):
            parts.append(
                "select 'batch' as source, tconst, probability, model_version, scored_at "
                f"from {PREDICTIONS_TABLE}"
            )
        if api_rows is not None and len(api_rows):
            con = con.cursor()  # register() needs a connection with no open result
            con.register(
                "api_rows", api_rows[["tconst", "probability", "model_version", "scored_at"]]
            )
            parts.append(
                "select 'api' as source, tconst, probability, cast(model_version as varchar), "
                "cast(scored_at as timestamp) from api_rows"
            )
        if not parts:
            return empty
        frame = con.execute(
            f"""select p.source, p.tconst, p.probability, p.model_version, p.scored_at,
                       r.averageRating
                from ({" union all ".join(parts)}) p
                join {_raw(cfg)}.title_ratings r on r.tconst = p.tconst
                where r.averageRating is not null and r.last_modified > p.scored_at
                order by p.model_version, p.scored_at, p.tconst"""
        ).df()
    return frame if len(frame) else empty


def count_predictions(cfg: Config, model_version: str | None = None) -> int:
    """Rows in the predictions table (for one model version when given); 0 when absent."""
    if not Path(cfg.warehouse.path).exists():
        return 0
    with connect(cfg, read_only=True) as con:
        if not _table_exists(con, SCHEMA, TABLE):
            return 0
        sql, args = f"select count(*) from {PREDICTIONS_TABLE}", []
        if model_version is not None:
            sql, args = sql + " where model_version = ?", [str(model_version)]
        return int(con.execute(sql, args).fetchone()[0])


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
