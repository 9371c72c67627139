"""Batch scoring on a PostgreSQL warehouse (a real server, see tests/support/pg_server.py): score ->
a publish that fails inside its transaction leaves the table as it was -> later dump ->
incremental re-score (replaces per tconst + model_version) -> ``monitor performance``."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from integration.scoring.conftest import project_config
from sklearn.metrics import roc_auc_score
from support.pg_server import WAREHOUSE_PASSWORD, WAREHOUSE_USER, fresh_database
from support.scoring_fixtures import (
    CHANGED,
    GET_RATED,
    NEW,
    UNRATED,
    first_dump,
    later_dump,
    later_rating,
    tconst,
)
from support.warehouse_kit import model_table, rows
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.dataops.warehouse import ingest_imdb
from imdbops.dataops.warehouse_backends.postgres_backend import PASSWORD_ENV
from imdbops.mlops.transform import label_from_rating


def _json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def _table(cfg) -> dict[str, tuple]:
    schema = model_table(cfg).split(".")[0]
    found = rows(
        cfg,
        "select tconst, probability, label, model_version, data_md5, scored_at "
        f"from {schema}.predictions",
    )
    return {r[0]: tuple(r[1:]) for r in found}


def test_score_and_performance_on_postgres(tmp_path, monkeypatch, shared_tracking, postgres_server):
    server = postgres_server
    warehouse = {
        "backend": "postgres",
        "host": server.host,
        "port": server.port,
        "database": fresh_database(server),
        "user": WAREHOUSE_USER,
    }
    monkeypatch.setenv(PASSWORD_ENV, WAREHOUSE_PASSWORD)
    monkeypatch.chdir(tmp_path)
    cfg, path = project_config(
        tmp_path, shared_tracking, monitoring={"performance_min_rows": 5}, warehouse=warehouse
    )
    monkeypatch.setenv("IMDBOPS_CONFIG", str(path))
    version = shared_tracking["version"]
    ingest_imdb(cfg, *first_dump(tmp_path / "dump1"))

    first = CliRunner().invoke(app, ["score", "--warehouse", "--json"])
    assert first.exit_code == 0, first.output
    assert _json(first.output)["published"]["inserted"] == len(UNRATED)
    table = _table(cfg)
    assert sorted(table) == sorted(tconst(i) for i in UNRATED)
    assert {v[2] for v in table.values()} == {version}
    assert all(v[1] == int(v[0] >= 0.5) for v in table.values())

    time.sleep(0.01)  # the later dump's stamp must follow the scores
    ingest_imdb(cfg, *later_dump(tmp_path / "dump2"))
    # A publish that fails inside its transaction leaves the table exactly as it was.
    monkeypatch.setenv("IMDBOPS_FAILPOINTS", "score.publish:raise")
    failed = CliRunner().invoke(app, ["score", "--warehouse"])
    assert failed.exit_code != 0
    assert _table(cfg) == table
    monkeypatch.delenv("IMDBOPS_FAILPOINTS")

    second = CliRunner().invoke(app, ["score", "--warehouse", "--json"])
    assert second.exit_code == 0, second.output
    result = _json(second.output)
    assert result["rows_scored"] == len(NEW) + 1  # the new titles and the retitled one
    assert result["published"]["inserted"] == len(NEW)
    assert result["published"]["replaced"] == 1
    after = _table(cfg)
    assert len(after) == len(UNRATED) + len(NEW)
    assert after[tconst(CHANGED)][3] != table[tconst(CHANGED)][3]  # new data_md5
    unchanged = [i for i in UNRATED if i not in GET_RATED and i != CHANGED]
    assert all(after[tconst(i)] == table[tconst(i)] for i in unchanged)

    run = CliRunner().invoke(app, ["monitor", "performance", "--json"])
    report = _json(run.output)
    y = np.array([label_from_rating(float(later_rating(i))) for i in GET_RATED])
    p = np.array([table[tconst(i)][0] for i in GET_RATED])
    assert report["rows_matched"] == len(GET_RATED)
    (v,) = report["versions"]
    assert v["sources"] == {"batch": len(GET_RATED)}
    assert v["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert run.exit_code in (0, 3), run.output
