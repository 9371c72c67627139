"""The warehouse tests run on every backend: a Config per backend, and backend-neutral reads.

``backend_config`` gives DuckDB (a file under tmp_path) or PostgreSQL (a fresh database on
the session's server, see pg_server.py) with the same paths; ``rows`` reads through the
warehouse interface itself, so a test body never names a driver.
"""

from __future__ import annotations

import pytest

from imdbops.config import Config, load_config
from imdbops.dataops.warehouse_backends import get_warehouse
from support.pg_server import WAREHOUSE_PASSWORD, WAREHOUSE_USER, fresh_database

BACKENDS = ["duckdb", "postgres"]


def backend_config(request, tmp_path, monkeypatch, backend: str) -> Config:
    monkeypatch.delenv("IMDBOPS_CONFIG", raising=False)
    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)
    warehouse: dict = {"backend": backend}
    if backend == "postgres":
        from imdbops.dataops.warehouse_backends.postgres_backend import PASSWORD_ENV

        server = request.getfixturevalue("postgres_server")
        warehouse.update(
            host=server.host,
            port=server.port,
            database=fresh_database(server),
            user=WAREHOUSE_USER,
        )
        monkeypatch.setenv(PASSWORD_ENV, WAREHOUSE_PASSWORD)
    config = load_config(paths={"root": tmp_path}, warehouse=warehouse)
    config.ensure_dirs()
    return config


def backend_cfg_fixture():
    """A ``cfg`` fixture parametrised over every backend (use in a conftest)."""

    @pytest.fixture(params=BACKENDS)
    def cfg(request, tmp_path, monkeypatch) -> Config:
        return backend_config(request, tmp_path, monkeypatch, request.param)

    return cfg


def rows(cfg: Config, sql: str) -> list[tuple]:
    with get_warehouse(cfg).session(read_only=True) as s:
        return s.rows(sql)


def model_table(cfg: Config) -> str:
    return get_warehouse(cfg).model_table
