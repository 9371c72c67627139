"""The warehouse interface: what ingest, build, status and extract need from a database.

Ingest, build, status and extract (``dataops.warehouse``, ``dataops.warehouse_build``,
``dataops.extract``) are written once against :class:`Warehouse` and :class:`Session`; each
backend (``duckdb_backend``, ``postgres_backend``) is a small adapter that knows how to
connect, how to stream an IMDb dump into a staging table, and what dbt needs to reach it.
The SQL they share sticks to what DuckDB, PostgreSQL and BigQuery all accept: unquoted
identifiers (PostgreSQL folds them to lower case, the others ignore case), ``filter``
clauses, ``is not distinct from`` and timestamps as literals (no driver placeholders).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from imdbops.config import Config
    from imdbops.dataops.sources import DumpFormat

MODEL_NAME = "filtered_movies_incremental"

Progress = Callable[[str], None]


class WarehouseError(RuntimeError):
    """The warehouse cannot do what was asked; the message says how to fix it."""


class ConnectionLostError(WarehouseError):
    """The server went away mid-command (restarted, stopped, network cut); what was not
    committed is rolled back, so a read-only command may simply run again."""


class QueryError(WarehouseError):
    """A statement failed in the database; the message is the driver's first line."""


def sql_literal(value: Any) -> str:
    """A SQL literal for a string, number, timestamp or None (every dialect we target)."""
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class Session(ABC):
    """One open connection. Statements run inside the transaction ``begin`` opened, if any;
    a failing statement raises ``QueryError``."""

    @abstractmethod
    def execute(self, sql: str) -> None: ...

    @abstractmethod
    def rows(self, sql: str) -> list[tuple]:
        """Run a query and return every row (small results: counts, status)."""

    @abstractmethod
    def frame(self, sql: str) -> pd.DataFrame:
        """Run a query and return its result as a DataFrame (column names as the server
        reports them: PostgreSQL folds unquoted names to lower case)."""

    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None:
        """Undo the open transaction; never raises (the first error is the one to report)."""

    @abstractmethod
    def table_exists(self, schema: str, table: str) -> bool: ...

    @abstractmethod
    def ensure_schema(self, schema: str) -> None:
        """Create ``schema`` if missing; refuse (WarehouseError) one owned by someone else."""

    @abstractmethod
    def stage_dump(self, path: Path, fmt: DumpFormat, table: str) -> None:
        """Stream the IMDb dump ``path`` into a new temporary table ``table`` with ``fmt``'s
        columns and types, raising ``IngestError`` (one line: file, problem, fix) on bad
        content. The dump must never be held whole in this process's memory."""

    @abstractmethod
    def write_frame(self, schema: str, table: str, frame: pd.DataFrame) -> None:
        """Create ``schema.table`` holding ``frame`` (column names as given, lower case)."""

    @abstractmethod
    def query_to_parquet(self, sql: str, path: Path, schema: pa.Schema, chunk_rows: int) -> int:
        """Stream the result of ``sql`` (columns and types of ``schema``) into a new Parquet
        file at ``path`` (zstd); returns its rows. Memory stays flat however many rows there
        are: the result is never held whole in this process."""

    def matching_keys(self, table: str, keys: pa.Table, where: str = "true") -> np.ndarray:
        """For each row of ``keys``: whether ``table`` has a row (satisfying ``where``) with the
        same values in every column of ``keys`` — a semi-join, as a boolean array.

        This default asks for the rows whose first key is among the chunk's (one plain
        query, nothing staged; fine on a read-only session) and matches the rest here.
        """
        import numpy as np

        names = keys.column_names
        columns = [keys.column(n).to_pylist() for n in names]
        if not keys.num_rows:
            return np.zeros(0, dtype=bool)
        first = ", ".join(sql_literal(v) for v in set(columns[0]))
        stored = set(
            self.rows(
                f"select {', '.join(names)} from {table} t where ({where}) "
                f"and {names[0]} in ({first})"
            )
        )
        wanted = zip(*columns, strict=True)
        return np.fromiter((tuple(k) in stored for k in wanted), bool, keys.num_rows)

    def lock_for_write(self) -> None:
        """Inside a write's transaction (a load, its fingerprint, a scores publish): wait for
        any other imdbops write to this warehouse to end (default: nothing; DuckDB's file
        lock already admits one writer)."""
        return None

    def type_name(self, generic: str) -> str:
        """This dialect's name for a DuckDB type name used in the shared DDL."""
        return generic

    def scalar(self, sql: str) -> Any:
        found = self.rows(sql)
        return found[0][0] if found else None


class Warehouse(ABC):
    """A warehouse backend, made from the Config. Adapters implement every abstract member."""

    name: str  # the value of ``warehouse.backend``
    model_schema: str  # where dbt builds the model

    def __init__(self, cfg: Config):
        self.cfg = cfg

    @property
    def raw_schema(self) -> str:
        return self.cfg.warehouse.raw_schema

    @property
    def model_table(self) -> str:
        return f"{self.model_schema}.{MODEL_NAME}"

    @property
    def dbt_target(self) -> str:
        """The target in the dbt profiles: ``warehouse.dbt_target`` or the backend's name."""
        return self.cfg.warehouse.dbt_target or self.name

    @abstractmethod
    def describe(self) -> str:
        """Where the warehouse is, for messages and metadata (never a password)."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether anything was ever loaded (a file, the raw schema) — cheap, no side effect."""

    @abstractmethod
    def session(self, read_only: bool = False) -> contextlib.AbstractContextManager[Session]:
        """A connection, closed on exit; WarehouseError (one line) when it cannot be opened."""

    @abstractmethod
    def dbt_env(self) -> dict[str, str]:
        """Environment variables the bundled profiles.yml reads for this backend's target
        (secrets as ``DBT_ENV_SECRET_*`` so dbt scrubs them from its logs)."""

    def after_dbt(self) -> None:
        """Release anything dbt keeps open in this process (default: nothing)."""
        return None

    def discard_failed_first_load(self) -> None:
        """Remove what a failed first load created (default: nothing; the rollback did it)."""
        return None

    def record_change(self, summary: dict[str, Any]) -> None:
        """After a load or a build: rewrite the fingerprint file at ``source_path(cfg)``."""
        from imdbops.atomic import atomic_write_text

        atomic_write_text(source_path(self.cfg), fingerprint_text(self.describe(), summary))

    def refresh_source(self) -> bool:
        """Bring ``source_path(cfg)`` up to date with a load or build made elsewhere (another
        machine, an earlier container); True when it changed. Default: nothing to do."""
        return False


def fingerprint_text(where: str, summary: dict[str, Any]) -> str:
    """The fingerprint's exact bytes: the same on every machine for the same load."""
    import json

    return json.dumps({"warehouse": where, **summary}, indent=2, sort_keys=True, default=str) + "\n"


def source_path(cfg: Config) -> Path:
    """A file whose content changes whenever the warehouse is loaded or rebuilt: the training
    DAG's ``warehouse`` source, which keys the extract's cache. DuckDB: the file itself; a
    server: a fingerprint file that ingest and build rewrite, and that the pipeline commands
    refresh from the server first (``Warehouse.refresh_source``), so a load made by another
    machine is seen."""
    if cfg.warehouse.backend == "duckdb":
        return Path(cfg.warehouse.path)
    return Path(cfg.paths.state_dir) / f"warehouse-{cfg.warehouse.backend}.json"


def no_progress(_msg: str) -> None:
    return None


@contextlib.contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """BEGIN ... COMMIT, rolled back on any error (including KeyboardInterrupt)."""
    session.begin()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    session.commit()
