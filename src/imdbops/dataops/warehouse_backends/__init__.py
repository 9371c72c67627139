"""Warehouse backends behind one interface (``base.Warehouse``); ``get_warehouse(cfg)``.

Adapters are imported only when chosen, so DuckDB users never import a PostgreSQL driver.
A new backend (BigQuery, ...) is one module with a ``Warehouse`` subclass, registered here;
docs/warehouse.md lists what it must provide.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from imdbops.dataops.warehouse_backends.base import (
    MODEL_NAME,
    ConnectionLostError,
    Progress,
    QueryError,
    Session,
    Warehouse,
    WarehouseError,
    fingerprint_text,
    no_progress,
    source_path,
    sql_literal,
    transaction,
)

if TYPE_CHECKING:
    from imdbops.config import Config

__all__ = [
    "BACKENDS",
    "ConnectionLostError",
    "MODEL_NAME",
    "Progress",
    "QueryError",
    "Session",
    "Warehouse",
    "WarehouseError",
    "fingerprint_text",
    "get_warehouse",
    "refresh_source",
    "no_progress",
    "source_path",
    "sql_literal",
    "transaction",
]

# warehouse.backend -> "module:class" (modules under this package)
BACKENDS = {
    "duckdb": "duckdb_backend:DuckDBWarehouse",
    "postgres": "postgres_backend:PostgresWarehouse",
}


def get_warehouse(cfg: Config) -> Warehouse:
    """The adapter for ``cfg.warehouse.backend``."""
    name = cfg.warehouse.backend
    if name not in BACKENDS:
        raise WarehouseError(
            f"warehouse.backend {name!r} is not supported; choose one of {', '.join(BACKENDS)}"
        )
    module, cls = BACKENDS[name].split(":")
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ImportError as exc:
        raise WarehouseError(
            f"warehouse.backend {name} needs {exc.name}: pip install -e . (it is a dependency)"
        ) from None
    return getattr(mod, cls)(cfg)


def refresh_source(cfg: Config) -> bool:
    """Update the training DAG's warehouse source from the warehouse itself (servers: the
    fingerprint the last load or build stored there); True when it changed."""
    return get_warehouse(cfg).refresh_source()
