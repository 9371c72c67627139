"""PostgreSQL only: a server that cannot be reached, a wrong password, someone else's schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.pg_server import WAREHOUSE_PASSWORD, WAREHOUSE_USER
from support.warehouse_kit import backend_config, rows
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.dataops.warehouse import ingest_imdb
from imdbops.dataops.warehouse_backends import WarehouseError
from imdbops.dataops.warehouse_backends.postgres_backend import PASSWORD_ENV
from imdbops.dataops.warehouse_build import build_warehouse


@pytest.fixture
def pg_cfg(request, tmp_path, monkeypatch):
    return backend_config(request, tmp_path, monkeypatch, "postgres")


def _cli(cfg, tmp_path, *args: str):
    config = tmp_path / "imdbops.yaml"
    warehouse = cfg.warehouse.model_dump(mode="json", exclude={"path"})
    config.write_text(yaml.safe_dump({"paths": {"root": str(tmp_path)}, "warehouse": warehouse}))
    return CliRunner().invoke(app, ["-c", str(config), *args])


def _assert_one_line_naming_the_server(cfg, text: str) -> None:
    wh = cfg.warehouse
    line = text.strip()
    assert "\n" not in line and "Traceback" not in line, text
    for part in (f"host {wh.host}", f"port {wh.port}", f"database {wh.database}",
                 f"user {wh.user}"):  # fmt: skip
        assert part in line, (part, line)
    assert WAREHOUSE_PASSWORD not in line


def test_unreachable_server_is_one_line_naming_it_exit_1(pg_cfg, tmp_path, free_port, dumps):
    pg_cfg.warehouse.port = free_port  # nothing listens there
    pg_cfg.warehouse.connect_timeout = 3
    for args in (
        ("data", "ingest", "--source", "imdb", "--basics", str(dumps.write()[0]),
         "--ratings", str(dumps.write()[1])),
        ("warehouse", "build"),
        ("warehouse", "status"),
        ("data", "extract"),
    ):  # fmt: skip
        result = _cli(pg_cfg, tmp_path, *args)
        assert result.exit_code == 1, result.output
        _assert_one_line_naming_the_server(pg_cfg, result.output)
        assert "Connection refused" in result.output or "connection" in result.output.lower()


def test_wrong_password_is_one_line_without_the_password(pg_cfg, tmp_path, monkeypatch, dumps):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    result = _cli(pg_cfg, tmp_path, "data", "ingest", "--source", "imdb",
                  "--basics", str(dumps.write()[0]), "--ratings", str(dumps.write()[1]))  # fmt: skip
    assert result.exit_code == 1
    _assert_one_line_naming_the_server(pg_cfg, result.output)
    assert "password authentication failed" in result.output
    assert "not-the-password" not in result.output


def test_schema_owned_by_someone_else_is_refused_never_dropped(pg_cfg, postgres_server, dumps):
    db = pg_cfg.warehouse.database
    postgres_server.psql(
        "do $$ begin if not exists (select from pg_roles where rolname = 'someone_else') "
        "then create role someone_else; end if; end $$"
    )
    postgres_server.psql(
        "create schema raw authorization someone_else; "
        "create table raw.keep_me (id int); insert into raw.keep_me values (42); "
        f"grant usage, create on schema raw to {WAREHOUSE_USER}",
        db,
    )
    with pytest.raises(WarehouseError, match="schema raw exists but belongs to someone_else"):
        ingest_imdb(pg_cfg, *dumps.write())
    assert postgres_server.psql("select id from raw.keep_me", db).strip() == "42"
    assert not postgres_server.psql(
        "select 1 from pg_tables where schemaname = 'raw' and tablename = 'title_basics'", db
    ).strip()

    # The model's schema too: checked before dbt runs.
    pg_cfg.warehouse.raw_schema = "imdb_raw"
    ingest_imdb(pg_cfg, *dumps.write())
    postgres_server.psql("create schema analytics authorization someone_else", db)
    with pytest.raises(WarehouseError, match="schema analytics exists but belongs to someone_else"):
        build_warehouse(pg_cfg)
    assert rows(pg_cfg, "select count(*) from imdb_raw.title_basics") == [(8,)]


def test_two_loads_at_once_take_turns(pg_cfg, dumps):
    from concurrent.futures import ThreadPoolExecutor

    first = dumps.write()
    dumps.set_rating("tt0000002", "2.0")
    second = dumps.write()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda d: ingest_imdb(pg_cfg, *d), (first, second)))
    assert len({r.last_modified for r in results}) == 2
    assert rows(pg_cfg, "select count(*) from raw.ingest_log") == [(2,)]
    assert rows(pg_cfg, "select count(*) from raw.title_basics") == [(8,)]


def test_two_scores_publishes_at_once_take_turns(pg_cfg, tmp_path):
    # Both create the predictions table and a stage of the same name: without one lock
    # for every write, one of them fails on PostgreSQL's non-atomic "if not exists".
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime

    import pandas as pd

    from imdbops.dataops.predictions_store import COLUMNS, write_predictions

    def scores(name: str, version: str) -> Path:
        frame = pd.DataFrame({
            "tconst": [f"tt{i:07d}" for i in range(50)], "probability": 0.25, "label": 0,
            "model_version": version, "data_md5": "m", "scored_at": datetime(2026, 1, 1),
        })[list(COLUMNS)]  # fmt: skip
        path = tmp_path / name
        frame.to_parquet(path)
        return path

    files = [scores("a.parquet", "1"), scores("b.parquet", "2")]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda p: write_predictions(pg_cfg, p), files))
    assert sorted(r.inserted for r in results) == [50, 50]
    assert sorted(r.table_rows for r in results) == [50, 100]
    schema = pg_cfg.warehouse.model_schema
    assert rows(pg_cfg, f"select model_version, count(*) from {schema}.predictions "
                        "group by 1 order by 1") == [("1", 50), ("2", 50)]  # fmt: skip


def test_two_fingerprints_recorded_at_once_take_turns(pg_cfg):
    # Each load ends by recording its fingerprint outside the load's transaction; two loads
    # ending together must not race on creating the fingerprint table.
    from concurrent.futures import ThreadPoolExecutor

    from imdbops.dataops.warehouse_backends import get_warehouse
    from imdbops.dataops.warehouse_backends.base import fingerprint_text
    from imdbops.dataops.warehouse_backends.postgres_backend import FINGERPRINT_TABLE

    wh = get_warehouse(pg_cfg)
    summaries = [{"loaded_at": f"2026-01-0{i + 1}"} for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(wh.record_change, summaries))
    (body,) = rows(pg_cfg, f"select body from {wh.raw_schema}.{FINGERPRINT_TABLE}")
    assert body[0] in {fingerprint_text(wh.describe(), s) for s in summaries}
