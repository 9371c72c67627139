"""Ingest: transactional loads of IMDb's raw tables, written once for every backend.

Every load is one transaction: the dumps are streamed into temporary tables (DuckDB reads
them itself; PostgreSQL receives them through ``COPY``), validated, diffed against the
current raw tables and swapped in between ``BEGIN`` and ``COMMIT``. Bad input therefore
leaves the warehouse exactly as it was. A row's ``last_modified`` changes only when its
content does, which is what lets the incremental dbt model rewrite exactly the changed rows.
The build, status and extract live in ``warehouse_build`` and ``extract``.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.config import Config
from imdbops.dataops.sources import BASICS, RATINGS, DumpFormat, IngestError, check_dump
from imdbops.dataops.warehouse_backends import (
    Progress,
    Session,
    get_warehouse,
    no_progress,
    sql_literal,
    transaction,
)
from imdbops.failpoints import failpoint
from imdbops.log import get_logger

log = get_logger("dataops.warehouse")


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


def ensure_raw_tables(s: Session, raw: str, type_name=lambda t: t) -> None:
    s.ensure_schema(raw)
    for fmt in (BASICS, RATINGS):
        cols = ", ".join(f"{c} {type_name(t)}" for c, t in fmt.columns)
        s.execute(f"create table if not exists {raw}.{fmt.table} ({cols}, last_modified TIMESTAMP)")
    s.execute(
        f"""create table if not exists {raw}.ingest_log (
            loaded_at TIMESTAMP, source VARCHAR, tables JSON, seconds {type_name("DOUBLE")})"""
    )


def _stamp(s: Session, raw: str) -> datetime:
    """Now (UTC), but strictly after every existing stamp, so a newer load always wins."""
    now = clock.now().replace(tzinfo=None)
    latest = s.scalar(
        f"""select max(m) from (
              select max(last_modified) m from {raw}.{BASICS.table}
              union all select max(last_modified) from {raw}.{RATINGS.table}) t"""
    )
    if latest is not None and now <= latest:
        now = latest + timedelta(microseconds=1)
    return now


def _stage(s: Session, path: Path, fmt: DumpFormat) -> int:
    stage = f"stage_{fmt.table}"
    s.stage_dump(path, fmt, stage)
    rows, ids, nulls = s.rows(
        f"select count(*), count(distinct tconst), count(*) - count(tconst) from {stage}"
    )[0]
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


def _swap(s: Session, raw: str, path: Path, fmt: DumpFormat, stamp: datetime) -> TableLoad:
    """Replace the raw table by the staged rows, keeping last_modified of unchanged rows."""
    stage, table, nxt = f"stage_{fmt.table}", f"{raw}.{fmt.table}", f"{fmt.table}__next"
    same = " and ".join(f"s.{c} is not distinct from o.{c}" for c in fmt.column_names[1:])
    ts = sql_literal(stamp)
    s.execute(
        f"""create table {raw}.{nxt} as
            select s.*, case when o.tconst is not null and {same} then o.last_modified
                             else {ts} end as last_modified
            from {stage} s left join {table} o on o.tconst = s.tconst"""
    )
    rows, inserted, updated = s.rows(
        f"""select count(*), count(*) filter (where o.tconst is null),
                   count(*) filter (where o.tconst is not null and n.last_modified = {ts})
            from {raw}.{nxt} n left join {table} o on o.tconst = n.tconst"""
    )[0]
    old_rows = s.scalar(f"select count(*) from {table}")
    s.execute(f"drop table {table}")
    s.execute(f"alter table {raw}.{nxt} rename to {fmt.table}")
    s.execute(f"drop table {stage}")
    unchanged = rows - inserted - updated
    return TableLoad(
        fmt.table, str(path), rows, inserted, updated, unchanged, old_rows - unchanged - updated
    )


def load_dumps(
    cfg: Config, basics: Path, ratings: Path, source: str, progress: Progress | None = None
) -> IngestResult:
    """The one load path for every source: IMDb-format dumps -> raw tables, in one transaction."""
    step = progress or no_progress
    basics, ratings = Path(basics), Path(ratings)
    step("checking headers")
    check_dump(basics, BASICS)
    check_dump(ratings, RATINGS)
    wh = get_warehouse(cfg)
    raw = wh.raw_schema
    existed = wh.exists()
    started = time.perf_counter()
    try:
        with wh.session() as s, transaction(s):
            s.lock_for_write()
            ensure_raw_tables(s, raw, s.type_name)
            for path, fmt in ((basics, BASICS), (ratings, RATINGS)):
                step(f"reading {path.name}")
                _stage(s, path, fmt)
            step("merging into the warehouse")
            stamp = _stamp(s, raw)
            loads = [_swap(s, raw, basics, BASICS, stamp), _swap(s, raw, ratings, RATINGS, stamp)]
            seconds = round(time.perf_counter() - started, 3)
            values = [stamp, source, json.dumps([asdict(t) for t in loads]), seconds]
            s.execute(
                f"insert into {raw}.ingest_log values ({', '.join(map(sql_literal, values))})"
            )
            failpoint("ingest.before_commit")
    except BaseException:
        if not existed:
            wh.discard_failed_first_load()
        raise
    wh.record_change({"loaded_at": stamp.isoformat(), "source": source})
    result = IngestResult(source, wh.describe(), stamp.isoformat(), seconds, loads)
    for t in loads:
        log.info(
            "loaded %s: %d rows (%d new, %d changed, %d removed) from %s",
            t.table, t.rows, t.inserted, t.updated, t.removed, t.path,
        )  # fmt: skip
    return result


def ingest_imdb(
    cfg: Config, basics: Path, ratings: Path, progress: Progress | None = None
) -> IngestResult:
    """Load IMDb's real ``title.basics`` / ``title.ratings`` dumps (streamed, never whole)."""
    return load_dumps(cfg, basics, ratings, source="imdb", progress=progress)


def ingest_bundled(cfg: Config, progress: Progress | None = None) -> IngestResult:
    """Load the bundled ggplot2 movies, converted to IMDb's dump format first."""
    from imdbops.dataops.bundled import write_bundled_dumps

    step = progress or no_progress
    step("converting the bundled movies to IMDb's format")
    Path(cfg.paths.state_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cfg.paths.state_dir, prefix="bundled-") as tmp:
        basics, ratings = write_bundled_dumps(Path(tmp))
        return load_dumps(cfg, basics, ratings, source="bundled", progress=progress)
