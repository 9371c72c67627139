"""The DuckDB warehouse: transactional loads of IMDb's raw tables, and the dbt build.

Every load is one transaction: the dumps are streamed by DuckDB into temporary tables,
validated, diffed against the current raw tables and swapped in between ``BEGIN`` and
``COMMIT``. Bad input therefore leaves the warehouse exactly as it was. A row's
``last_modified`` changes only when its content does, which is what lets the incremental
dbt model rewrite exactly the changed rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from imdbops.config import Config
from imdbops.dataops.sources import (
    BASICS,
    RATINGS,
    DumpFormat,
    IngestError,
    check_dump,
    describe_read_error,
    read_sql,
)
from imdbops.failpoints import failpoint
from imdbops.log import get_logger

if TYPE_CHECKING:
    from imdbops.dataops.warehouse_build import BuildResult

log = get_logger("dataops.warehouse")

RAW_SCHEMA = "raw"
MODEL_SCHEMA, MODEL_NAME = "main", "filtered_movies_incremental"
MODEL_TABLE = f"{MODEL_SCHEMA}.{MODEL_NAME}"
# DuckDB spills to disk beyond this, which keeps an 11M-row load inside a laptop's memory.
MEMORY_LIMIT = os.environ.get("DUCKDB_MEMORY_LIMIT", "1GB")

Progress = Callable[[str], None]


class WarehouseError(RuntimeError):
    """The warehouse cannot do what was asked; the message says how to fix it."""


@dataclass
class TableLoad:
    table: str
    path: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    removed: int


@dataclass
class IngestResult:
    source: str
    warehouse: str
    last_modified: str
    seconds: float
    tables: list[TableLoad] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def connect(cfg: Config, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file, with a memory cap and a spill folder."""
    path = Path(cfg.warehouse.path)
    if read_only and not path.exists():
        raise WarehouseError(
            f"warehouse {path} does not exist yet; run `imdbops data ingest` "
            "then `imdbops warehouse build`"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    spill = Path(cfg.paths.state_dir) / "duckdb_tmp"
    spill.mkdir(parents=True, exist_ok=True)
    config = {
        "memory_limit": MEMORY_LIMIT,
        "temp_directory": str(spill),
        "preserve_insertion_order": False,
    }
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        raise WarehouseError(
            f"cannot open warehouse {path}: {exc}; if another imdbops or dbt process is using "
            "it, wait for it to finish"
        ) from None
    try:
        yield con
    finally:
        con.close()


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    for fmt in (BASICS, RATINGS):
        cols = ", ".join(f'"{c}" {t}' for c, t in fmt.columns)
        con.execute(
            f"create table if not exists {RAW_SCHEMA}.{fmt.table} ({cols}, last_modified TIMESTAMP)"
        )
    con.execute(
        f"""create table if not exists {RAW_SCHEMA}.ingest_log (
            loaded_at TIMESTAMP, source VARCHAR, tables JSON, seconds DOUBLE)"""
    )


def _stamp(con: duckdb.DuckDBPyConnection) -> datetime:
    """Now (UTC), but strictly after every existing stamp, so a newer load always wins."""
    now = datetime.now(UTC).replace(tzinfo=None)
    latest = con.execute(
        f"""select max(m) from (
              select max(last_modified) m from {RAW_SCHEMA}.{BASICS.table}
              union all select max(last_modified) from {RAW_SCHEMA}.{RATINGS.table})"""
    ).fetchone()[0]
    if latest is not None and now <= latest:
        now = latest + timedelta(microseconds=1)
    return now


def _stage(con: duckdb.DuckDBPyConnection, path: Path, fmt: DumpFormat) -> int:
    stage = f"stage_{fmt.table}"
    try:
        con.execute(f"create temp table {stage} as select * from {read_sql(path, fmt)}")
    except duckdb.Error as exc:
        raise describe_read_error(path, fmt, exc) from None
    rows, ids, nulls = con.execute(
        f"select count(*), count(distinct tconst), count(*) - count(tconst) from {stage}"
    ).fetchone()
    fix = f"pass a complete IMDb {fmt.name} dump"
    if rows == 0:
        raise IngestError(f"{path}: the file has a header but no rows; {fix}")
    if nulls:
        raise IngestError(f"{path}: {nulls} row(s) have no tconst (\\N); every row needs an id")
    if ids != rows:
        raise IngestError(
            f"{path}: tconst is not unique ({rows - ids} duplicate row(s)); {fix} "
            "(each title appears once in IMDb's dumps)"
        )
    return rows


def _swap(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: DumpFormat, stamp: datetime
) -> TableLoad:
    """Replace the raw table by the staged rows, keeping last_modified of unchanged rows."""
    stage, table, nxt = f"stage_{fmt.table}", f"{RAW_SCHEMA}.{fmt.table}", f"{fmt.table}__next"
    same = " and ".join(f's."{c}" is not distinct from o."{c}"' for c in fmt.column_names[1:])
    con.execute(
        f"""create table {RAW_SCHEMA}.{nxt} as
            select s.*, case when o.tconst is not null and {same} then o.last_modified
                             else ?::TIMESTAMP end as last_modified
            from {stage} s left join {table} o on o.tconst = s.tconst""",
        [stamp],
    )
    rows, inserted, updated = con.execute(
        f"""select count(*), count(*) filter (where o.tconst is null),
                   count(*) filter (where o.tconst is not null and n.last_modified = ?)
            from {RAW_SCHEMA}.{nxt} n left join {table} o on o.tconst = n.tconst""",
        [stamp],
    ).fetchone()
    old_rows = con.execute(f"select count(*) from {table}").fetchone()[0]
    con.execute(f"drop table {table}")
    con.execute(f"alter table {RAW_SCHEMA}.{nxt} rename to {fmt.table}")
    con.execute(f"drop table {stage}")
    unchanged = rows - inserted - updated
    return TableLoad(
        fmt.table, str(path), rows, inserted, updated, unchanged, old_rows - unchanged - updated
    )


def load_dumps(
    cfg: Config, basics: Path, ratings: Path, source: str, progress: Progress | None = None
) -> IngestResult:
    """The one load path for every source: IMDb-format dumps -> raw tables, in one transaction."""
    step = progress or (lambda _msg: None)
    basics, ratings = Path(basics), Path(ratings)
    step("checking headers")
    check_dump(basics, BASICS)
    check_dump(ratings, RATINGS)
    wh = Path(cfg.warehouse.path)
    existed = wh.exists()
    started = time.perf_counter()
    try:
        with connect(cfg) as con:
            con.execute("begin transaction")
            try:
                _ensure_raw_tables(con)
                for path, fmt in ((basics, BASICS), (ratings, RATINGS)):
                    step(f"reading {path.name}")
                    _stage(con, path, fmt)
                step("merging into the warehouse")
                stamp = _stamp(con)
                loads = [_swap(con, basics, BASICS, stamp), _swap(con, ratings, RATINGS, stamp)]
                seconds = round(time.perf_counter() - started, 3)
                con.execute(
                    f"insert into {RAW_SCHEMA}.ingest_log values (?, ?, ?, ?)",
                    [stamp, source, json.dumps([asdict(t) for t in loads]), seconds],
                )
                failpoint("ingest.before_commit")
                con.execute("commit")
            except BaseException:
                # A failed COMMIT has already ended the transaction; keep the first error.
                with contextlib.suppress(duckdb.Error):
                    con.execute("rollback")
                raise
    except BaseException:
        if not existed:
            # A first load that failed leaves no warehouse behind, as before it started.
            for leftover in (wh, wh.with_name(wh.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise
    result = IngestResult(source, str(wh), stamp.isoformat(), seconds, loads)
    for t in loads:
        log.info(
            "loaded %s: %d rows (%d new, %d changed, %d removed) from %s",
            t.table, t.rows, t.inserted, t.updated, t.removed, t.path,
        )  # fmt: skip
    return result


def ingest_imdb(
    cfg: Config, basics: Path, ratings: Path, progress: Progress | None = None
) -> IngestResult:
    """Load IMDb's real ``title.basics`` / ``title.ratings`` dumps (streamed by DuckDB)."""
    return load_dumps(cfg, basics, ratings, source="imdb", progress=progress)


def ingest_bundled(cfg: Config, progress: Progress | None = None) -> IngestResult:
    """Load the bundled ggplot2 movies, converted to IMDb's dump format first."""
    from imdbops.dataops.bundled import write_bundled_dumps

    step = progress or (lambda _msg: None)
    step("converting the bundled movies to IMDb's format")
    Path(cfg.paths.state_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cfg.paths.state_dir, prefix="bundled-") as tmp:
        basics, ratings = write_bundled_dumps(Path(tmp))
        return load_dumps(cfg, basics, ratings, source="bundled", progress=progress)


def build_warehouse(
    cfg: Config, full_refresh: bool = False, progress: Progress | None = None
) -> BuildResult:
    """Run the dbt project (models + tests); see :mod:`imdbops.dataops.warehouse_build`."""
    from imdbops.dataops.warehouse_build import build_warehouse as _build

    return _build(cfg, full_refresh=full_refresh, progress=progress)
