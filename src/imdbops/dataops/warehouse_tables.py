"""Small tables of our own in the warehouse (e.g. scored predictions), on every backend.

``write_table`` replaces or appends to a table from a DataFrame in one transaction (a
reader sees the old rows or the new ones, never half); ``read_query`` returns a query's
result as a DataFrame. Use lower-case column names: PostgreSQL folds unquoted names, so a
camelCase column would come back lower case there and not on DuckDB. Meant for modest
frames (thousands to a few hundred thousand rows); bulk data goes through ``data ingest``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from imdbops.dataops.warehouse_backends import get_warehouse, transaction

if TYPE_CHECKING:
    import pandas as pd

    from imdbops.config import Config


def write_table(
    cfg: Config,
    table: str,
    frame: pd.DataFrame,
    schema: str | None = None,
    mode: Literal["replace", "append"] = "replace",
) -> int:
    """Write ``frame`` into ``schema.table`` (default schema: the model's) atomically."""
    wh = get_warehouse(cfg)
    schema = schema or wh.model_schema
    frame = frame.rename(columns=lambda c: str(c).lower())
    target, staged = f"{schema}.{table}", f"{table}__next"
    with wh.session() as s, transaction(s):
        s.ensure_schema(schema)
        s.execute(f"drop table if exists {schema}.{staged}")
        s.write_frame(schema, staged, frame)
        if mode == "append" and s.table_exists(schema, table):
            cols = ", ".join(frame.columns)
            s.execute(f"insert into {target} ({cols}) select {cols} from {schema}.{staged}")
            s.execute(f"drop table {schema}.{staged}")
        else:
            s.execute(f"drop table if exists {target}")
            s.execute(f"alter table {schema}.{staged} rename to {table}")
    return len(frame)


def read_query(cfg: Config, sql: str) -> pd.DataFrame:
    """The result of ``sql`` as a DataFrame (``QueryError`` with the server's message)."""
    with get_warehouse(cfg).session(read_only=True) as s:
        return s.frame(sql)
