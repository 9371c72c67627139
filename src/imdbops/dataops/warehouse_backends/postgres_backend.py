"""A PostgreSQL server as the warehouse: dumps streamed in with ``COPY``, dbt-postgres builds.

The dump is decompressed here in 1 MB chunks and streamed to the server (``COPY ... FROM
STDIN``), so this process never holds a dump; the server parses, types and stores it.
IMDb's format has no quoting at all, which PostgreSQL's ``csv`` mode reproduces with a quote
character that cannot occur in the data (``\\x01``); ``text`` mode would read backslashes
as escapes. Columns are unquoted (lower case in the catalog) so the dbt SQL, written with
IMDb's camelCase names, runs unchanged on every backend.

The password comes from ``IMDBOPS_WAREHOUSE_PASSWORD`` only (or libpq's own ``PGPASSWORD`` /
``~/.pgpass`` when that is unset), never from the config file.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg2
import psycopg2.extras

from imdbops.dataops.sources import IngestError
from imdbops.dataops.warehouse_backends.base import (
    ConnectionLostError,
    QueryError,
    Session,
    Warehouse,
    WarehouseError,
    fingerprint_text,
    source_path,
    sql_literal,
    transaction,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from imdbops.dataops.sources import DumpFormat

PASSWORD_ENV = "IMDBOPS_WAREHOUSE_PASSWORD"
# One row: the fingerprint of the last load or build (see base.source_path).
FINGERPRINT_TABLE = "imdbops_fingerprint"
CHUNK = 1 << 20
TYPES = {"DOUBLE": "double precision", "VARCHAR": "text"}
# pandas dtype kind -> PostgreSQL type, for write_frame.
FRAME_TYPES = {"i": "bigint", "u": "bigint", "f": "double precision", "b": "boolean",
               "M": "timestamp"}  # fmt: skip
# The data errors COPY reports for a bad value or a bad line (SQLSTATE class 22).
VALUE_ERRORS = ("22P02", "22003", "22P04", "22021", "22007", "22008", "22001")


def pg_type(generic: str) -> str:
    return TYPES.get(generic.upper(), generic)


class _Chunks:
    """A binary file object for ``copy_expert`` that remembers a decompression error."""

    def __init__(self, fh):
        self.fh = fh
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            return self.fh.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            self.error = exc
            raise


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in str(text).splitlines() if line.strip())


def connection_lost(where: str, reason: str) -> ConnectionLostError:
    """The server went away mid-command (restarted, stopped, network cut)."""
    return ConnectionLostError(
        f"lost the connection to the {where} mid-command ({reason}): the server restarted "
        "or stopped, and rolled back what this command had not committed; run it again once "
        "the server is up"
    )


class PostgresSession(Session):
    def __init__(self, con, where: str):
        self.con = con
        self.where = where

    def _run(self, sql: str):
        cur = self.con.cursor()
        try:
            cur.execute(sql)
        except psycopg2.Error as exc:
            cur.close()
            first = (exc.diag.message_primary or str(exc) or type(exc).__name__).splitlines()[0]
            if self.con.closed:
                raise connection_lost(self.where, first) from None
            raise QueryError(first) from exc
        return cur

    def execute(self, sql: str) -> None:
        self._run(sql).close()

    def rows(self, sql: str) -> list[tuple]:
        with contextlib.closing(self._run(sql)) as cur:
            return cur.fetchall()

    def frame(self, sql: str) -> pd.DataFrame:
        import pandas as pd

        with contextlib.closing(self._run(sql)) as cur:
            names = [d.name for d in cur.description]
            return pd.DataFrame.from_records(cur.fetchall(), columns=names)

    def type_name(self, generic: str) -> str:
        return pg_type(generic)

    def lock_for_write(self) -> None:
        # Two team members loading (or publishing scores) at once take turns instead of
        # racing on the swap or on "create table if not exists", which PostgreSQL does not
        # make atomic; the lock ends with the transaction (or a killed client's connection).
        self.execute("select pg_advisory_xact_lock(hashtext('imdbops.ingest'))")

    def begin(self) -> None:
        self.execute("begin")

    def commit(self) -> None:
        self.execute("commit")

    def rollback(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self.con.cursor().execute("rollback")

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(
            self.scalar(f"select to_regclass({sql_literal(f'{schema}.{table}')}) is not null")
        )

    def ensure_schema(self, schema: str) -> None:
        found = self.rows(
            "select pg_get_userbyid(nspowner), current_user from pg_namespace "
            f"where nspname = {sql_literal(schema)}"
        )
        if not found:
            self.execute(f"create schema {schema}")
            return
        owner, me = found[0]
        if owner != me:
            raise WarehouseError(
                f"{self.where}: schema {schema} exists but belongs to {owner}, not to {me}; "
                "imdbops only writes into schemas it created and never drops one: pick another "
                "(warehouse.raw_schema / warehouse.model_schema) or have its owner hand it over"
            )

    def stage_dump(self, path: Path, fmt: DumpFormat, table: str) -> None:
        cols = ", ".join(f"{c} {pg_type(t)}" for c, t in fmt.columns)
        self.execute(f"create temp table {table} ({cols})")
        copy = (
            f"copy {table} from stdin with (format csv, delimiter E'\\t', null '\\N', "
            "quote E'\\x01', header true)"
        )
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh, self.con.cursor() as cur:
            chunks = _Chunks(fh)
            try:
                cur.copy_expert(copy, chunks, size=CHUNK)
            except (psycopg2.Error, OSError, EOFError, zlib.error) as exc:
                raise _describe_copy_error(path, fmt, exc, chunks.error) from None

    def query_to_parquet(self, sql: str, path: Path, schema: pa.Schema, chunk_rows: int) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = 0
        # A server-side (named) cursor: the rows come in chunks, never all at once.
        cur = self.con.cursor(name="imdbops_to_parquet", withhold=True)
        try:
            with pq.ParquetWriter(path, schema, compression="zstd") as writer:
                try:
                    cur.execute(sql)
                    while batch := cur.fetchmany(chunk_rows):
                        columns = zip(*batch, strict=True)
                        arrays = [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)]
                        writer.write_table(pa.table(arrays, schema=schema))
                        rows += len(batch)
                except psycopg2.Error as exc:
                    first = (exc.diag.message_primary or str(exc)).splitlines()[0]
                    raise QueryError(first) from exc
        finally:
            cur.close()
        return rows

    def write_frame(self, schema: str, table: str, frame: pd.DataFrame) -> None:
        cols = ", ".join(
            f"{str(c).lower()} {FRAME_TYPES.get(frame[c].dtype.kind, 'text')}" for c in frame
        )
        self.execute(f"create table {schema}.{table} ({cols})")
        if frame.empty:
            return
        columns = [_python_values(frame[c]) for c in frame]
        with self.con.cursor() as cur:
            psycopg2.extras.execute_values(
                cur, f"insert into {schema}.{table} values %s", list(zip(*columns, strict=True)),
                page_size=2000,
            )  # fmt: skip


def _python_values(series: pd.Series) -> list:
    """Plain Python values (None for missing) that the driver can adapt."""
    import pandas as pd

    if series.dtype.kind == "M":
        values = [None if pd.isna(v) else v.to_pydatetime() for v in series]
    else:
        values = series.astype(object).tolist()
    return [
        None if v is None or (not isinstance(v, str | bytes) and pd.isna(v))
        else (v.item() if hasattr(v, "item") else v)
        for v in values
    ]  # fmt: skip


def _describe_copy_error(
    path: Path, fmt: DumpFormat, exc: BaseException, read_error: BaseException | None
) -> IngestError:
    """One line naming the file, the line and column, and the fix, like DuckDB's loader."""
    if read_error is not None or not isinstance(exc, psycopg2.Error):
        cause = read_error or exc
        return IngestError(
            f"{path}: cannot be read as gzip ({cause}); the file is corrupt or truncated: "
            f"download it again ({fmt.download_hint})"
        )
    diag = exc.diag
    head = _one_line(diag.message_primary or exc)
    where = re.search(r"line (\d+)(?:, column (\w+))?", diag.context or "")
    if where:
        names = {c.lower(): c for c in fmt.column_names}
        column = f", column {names.get(where[2], where[2])}" if where[2] else ""
        head = f"line {where[1]}{column}: {head}"
    return fmt.load_error(path, head, exc.pgcode in VALUE_ERRORS)


class PostgresWarehouse(Warehouse):
    name = "postgres"

    @property
    def model_schema(self) -> str:  # type: ignore[override]
        return self.cfg.warehouse.model_schema

    def _params(self) -> dict[str, str | int]:
        wh = self.cfg.warehouse
        return {"host": wh.host, "port": wh.port, "dbname": wh.database, "user": wh.user}

    def describe(self) -> str:
        p = self._params()
        return f"postgresql://{p['user']}@{p['host']}:{p['port']}/{p['dbname']}"

    def _where(self) -> str:
        p = self._params()
        return (
            f"PostgreSQL warehouse (host {p['host']}, port {p['port']}, database {p['dbname']}, "
            f"user {p['user']})"
        )

    @contextlib.contextmanager
    def session(self, read_only: bool = False) -> Iterator[Session]:
        from imdbops.timeouts import pg_keepalives

        # Bounded waits: the connect timeout, and keepalives for a server gone mid-query.
        kwargs = dict(self._params(), connect_timeout=self.cfg.warehouse.connect_timeout,
                      application_name="imdbops", **pg_keepalives())  # fmt: skip
        password = os.environ.get(PASSWORD_ENV)
        if password:
            kwargs["password"] = password
        try:
            con = psycopg2.connect(**kwargs)
        except psycopg2.Error as exc:
            # libpq's message names the server and the reason; it never holds the password.
            reason = _one_line(exc).replace(password or "\0", "***")
            raise WarehouseError(
                f"cannot connect to the {self._where()}: {reason}; check warehouse.host, "
                f"warehouse.port, warehouse.database, warehouse.user and {PASSWORD_ENV}"
            ) from None
        con.autocommit = True  # transactions are explicit (begin/commit), as on DuckDB
        try:
            with con.cursor() as cur:
                # Unqualified names resolve to the model's schema, as DuckDB's go to main.
                cur.execute(f"set search_path to {self.model_schema}, public")
                if read_only:
                    cur.execute("set default_transaction_read_only = on")
            yield PostgresSession(con, self._where())
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            if not con.closed:
                raise
            raise connection_lost(self._where(), _one_line(exc)) from None
        finally:
            con.close()

    def exists(self) -> bool:
        with self.session(read_only=True) as s:
            return s.table_exists(self.raw_schema, "title_basics")

    def record_change(self, summary: dict) -> None:
        """The fingerprint goes into the server too, so every machine sees the same one."""
        text = fingerprint_text(self.describe(), summary)
        table = f"{self.raw_schema}.{FINGERPRINT_TABLE}"
        with self.session() as s, transaction(s):
            s.lock_for_write()
            s.ensure_schema(self.raw_schema)
            s.execute(
                f"create table if not exists {table} (id int primary key, body text not null)"
            )
            s.execute(
                f"insert into {table} values (1, {sql_literal(text)}) "
                "on conflict (id) do update set body = excluded.body"
            )
        super().record_change(summary)

    def refresh_source(self) -> bool:
        from imdbops.atomic import atomic_write_text

        with self.session(read_only=True) as s:
            if not s.table_exists(self.raw_schema, FINGERPRINT_TABLE):
                return False
            text = s.scalar(f"select body from {self.raw_schema}.{FINGERPRINT_TABLE} where id = 1")
        path = source_path(self.cfg)
        if text is None or (path.exists() and path.read_text() == text):
            return False
        atomic_write_text(path, text)
        return True

    def dbt_env(self) -> dict[str, str]:
        p = self._params()
        return {
            "DBT_POSTGRES_HOST": str(p["host"]),
            "DBT_POSTGRES_PORT": str(p["port"]),
            "DBT_POSTGRES_DB": str(p["dbname"]),
            "DBT_POSTGRES_USER": str(p["user"]),
            "DBT_POSTGRES_SCHEMA": self.model_schema,
            # DBT_ENV_SECRET_*: dbt scrubs these values from its logs and errors.
            "DBT_ENV_SECRET_POSTGRES_PASSWORD": os.environ.get(PASSWORD_ENV, ""),
        }
