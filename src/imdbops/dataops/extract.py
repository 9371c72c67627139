"""The SQL extract: movies from the warehouse model into the raw extract frame.

Contract (docs/design.md): ``extract_movies(cfg) -> (DataFrame, ExtractMetadata)`` with
columns ``tconst, primaryTitle, genres ("" when none), startYear, runtimeMinutes,
averageRating, numVotes``, ordered by tconst; ``extract_to_file`` writes it as Parquet plus
``<out>.meta.json``. The content hash covers a canonical CSV rendering of the frame, so it
is identical for identical data whatever Parquet library wrote the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from imdbops import clock
from imdbops.artifact_names import EXTRACT_META_SUFFIX
from imdbops.atomic import atomic_path, atomic_write_json
from imdbops.config import Config
from imdbops.dataops.warehouse_backends import (
    MODEL_NAME,
    ConnectionLostError,
    QueryError,
    WarehouseError,
    get_warehouse,
)
from imdbops.failpoints import failpoint
from imdbops.log import get_logger
from imdbops.movies import RAW_EXTRACT_COLUMNS

log = get_logger("dataops.extract")


class ExtractError(WarehouseError):
    """The extract query failed or returned a frame that breaks the contract."""


@dataclass
class ExtractMetadata:
    rows: int
    columns: list[str]
    query: str
    table: str
    content_hash: str  # sha256 of the canonical CSV rendering
    warehouse: str
    extracted_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_query(cfg: Config, model_table: str | None = None) -> str:
    """The extract SQL: ``warehouse.extract_query`` verbatim, or the default with options."""
    if model_table is None:
        model_table = get_warehouse(cfg).model_table
    wh = cfg.warehouse
    if wh.extract_query:
        return wh.extract_query.strip().rstrip(";")
    where = ["primaryTitle is not null", "averageRating is not null"]
    if wh.strict_filters:
        # The reference project's filters: a movie needs genres and a runtime to be kept.
        where += ["genres is not null", "genres <> ''", "runtimeMinutes is not null"]
    if wh.min_year is not None:
        where.append(f"startYear >= {int(wh.min_year)}")
    sql = (
        "select tconst, primaryTitle, coalesce(genres, '') as genres, startYear, "
        "runtimeMinutes, averageRating, numVotes\n"
        f"from {model_table}\nwhere {' and '.join(where)}\norder by tconst"
    )
    if wh.max_rows is not None:
        sql += f"\nlimit {int(wh.max_rows)}"
    return sql


def _conform(frame: pd.DataFrame, query: str) -> pd.DataFrame:
    """Coerce a query result to the contract's columns, dtypes and order."""
    # PostgreSQL reports unquoted names in lower case: match names case-insensitively.
    by_lower = {str(c).lower(): c for c in frame.columns}
    frame = frame.rename(
        columns={by_lower[c.lower()]: c for c in RAW_EXTRACT_COLUMNS if c.lower() in by_lower}
    )
    missing = [c for c in RAW_EXTRACT_COLUMNS if c not in frame.columns]
    if missing:
        raise ExtractError(
            f"the extract query returned no column(s) {', '.join(missing)} (got "
            f"{', '.join(map(str, frame.columns))}); warehouse.extract_query must select "
            f"{', '.join(RAW_EXTRACT_COLUMNS)}. Query: {query}"
        )
    out = frame[list(RAW_EXTRACT_COLUMNS)].copy()
    try:
        for col in ("tconst", "primaryTitle"):
            out[col] = out[col].astype(str)
        out["genres"] = out["genres"].fillna("").astype(str)
        for col in ("startYear", "runtimeMinutes", "numVotes"):
            out[col] = pd.to_numeric(out[col]).astype("Int64")
        out["averageRating"] = pd.to_numeric(out["averageRating"]).astype("float64")
    except (TypeError, ValueError) as exc:
        raise ExtractError(
            f"the extract query returned values that do not fit the contract ({exc}); "
            f"types must be {RAW_EXTRACT_COLUMNS}"
        ) from None
    # Deterministic whatever order the query produced: same data, same frame, same hash.
    out = out.sort_values("tconst", kind="stable").reset_index(drop=True)
    return out


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of a canonical CSV rendering (fixed columns, order, null and float format)."""
    text = frame.to_csv(index=False, lineterminator="\n", na_rep="", float_format="%.6g")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# The extract only reads, so a connection cut mid-query (a server restart) is retried on a
# fresh connection this many times, RETRY_PAUSE_S apart, before the command fails.
RETRIES_ON_LOST_CONNECTION = 2
RETRY_PAUSE_S = 2.0


def extract_movies(cfg: Config) -> tuple[pd.DataFrame, ExtractMetadata]:
    """Run the configured extract query against the warehouse model (any backend)."""
    import time

    wh = get_warehouse(cfg)
    query = build_query(cfg, wh.model_table)
    for attempt in range(RETRIES_ON_LOST_CONNECTION + 1):
        try:
            raw = _query(cfg, wh, query)
            break
        except ConnectionLostError as exc:
            if attempt == RETRIES_ON_LOST_CONNECTION:
                raise
            log.warning("%s; the extract only reads, so it runs again", exc)
            time.sleep(RETRY_PAUSE_S)
    frame = _conform(raw, query)
    meta = ExtractMetadata(
        rows=len(frame),
        columns=list(frame.columns),
        query=query,
        table=wh.model_table,
        content_hash=content_hash(frame),
        warehouse=wh.describe(),
        extracted_at=clock.now().isoformat(timespec="seconds"),
    )
    log.info(
        "extracted %d movies from %s (sha256 %s)",
        meta.rows, wh.model_table, meta.content_hash[:12],
    )  # fmt: skip
    return frame, meta


def _query(cfg: Config, wh: Any, query: str) -> pd.DataFrame:
    with wh.session(read_only=True) as s:
        if not cfg.warehouse.extract_query and not s.table_exists(wh.model_schema, MODEL_NAME):
            raise ExtractError(
                f"warehouse {wh.describe()} has no {wh.model_table}; run "
                "`imdbops warehouse build` first (after `imdbops data ingest`)"
            )
        failpoint("extract.before_query")
        try:
            return s.frame(query)
        except QueryError as exc:
            first = str(exc)
            raise ExtractError(
                f"the extract query failed: {first}; check warehouse.extract_query. Query: {query}"
            ) from None


def meta_path(out_path: Path) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + EXTRACT_META_SUFFIX)


def extract_to_file(cfg: Config, out_path: Path, meta_file: Path | None = None) -> ExtractMetadata:
    """Extract to Parquet at ``out_path`` (atomically) plus its metadata JSON.

    ``meta_file`` is where the DAG's catalog puts the metadata; ``<out_path>.meta.json``
    when called on its own.
    """
    frame, meta = extract_movies(cfg)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        frame.to_parquet(tmp, index=False)
        failpoint("extract.before_rename")
    atomic_write_json(Path(meta_file) if meta_file else meta_path(out_path), meta.to_dict())
    return meta
