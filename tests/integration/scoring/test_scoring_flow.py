"""Batch scoring and delayed ground truth on IMDb-format dumps, end to end (real DuckDB,
real MLflow registry, real lake folder): score the unrated movies, ingest a later dump in
which some got ratings, re-score incrementally, measure performance against sklearn."""

from __future__ import annotations

import json
import time

import duckdb
import numpy as np
import pytest
from integration.scoring.conftest import project_config
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score
from support.scoring_fixtures import (
    CHANGED,
    GET_RATED,
    NEW,
    UNRATED,
    first_dump,
    later_dump,
    tconst,
)
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.dataops.lake import open_lake
from imdbops.dataops.warehouse import ingest_imdb
from imdbops.mlops.registry import load_champion
from imdbops.mlops.transform import label_from_rating, to_model_frame
from imdbops.monitoring.prediction_log import PredictionLog


@pytest.fixture
def project(tmp_path, monkeypatch, shared_tracking):
    monkeypatch.delenv("IMDBOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg, path = project_config(
        tmp_path, shared_tracking, monitoring={"performance_min_rows": 5, "performance_drop": 0.05}
    )
    monkeypatch.setenv("IMDBOPS_CONFIG", str(path))
    return cfg


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _json(output: str) -> dict:
    """The JSON line a --json command prints last (log lines may come before it)."""
    return json.loads(output.strip().splitlines()[-1])


def _table(cfg) -> dict[str, tuple]:
    with duckdb.connect(str(cfg.warehouse.path), read_only=True) as con:
        rows = con.execute(
            "select tconst, probability, label, model_version, data_md5, scored_at "
            "from main.predictions"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_nothing_to_work_with_gives_one_clear_line(tmp_path, monkeypatch, shared_tracking):
    _, path = project_config(tmp_path, shared_tracking, tracking={"model_name": "not-trained"})
    monkeypatch.setenv("IMDBOPS_CONFIG", str(path))
    res = _cli("score", "--input", str(tmp_path / "any.csv"))
    assert res.exit_code == 1
    assert "no champion model in the registry (not-trained)" in res.output
    assert "imdbops pipeline run" in res.output
    _, path = project_config(tmp_path, shared_tracking)
    missing = _cli("score", "--model-version", "99", "--input", str(tmp_path / "any.csv"))
    assert missing.exit_code == 1
    assert "has no version 99" in missing.output and "imdbops model list" in missing.output
    no_warehouse = _cli("monitor", "performance")
    assert no_warehouse.exit_code == 2
    assert "does not exist yet; run `imdbops data ingest`" in no_warehouse.output


def test_score_then_ratings_arrive_then_performance(
    project, tmp_path, shared_tracking, monkeypatch
):
    cfg = project
    ingest_imdb(cfg, *first_dump(tmp_path / "dump1"))

    version = shared_tracking["version"]
    first = _cli("score", "--warehouse", "--json")
    assert first.exit_code == 0, first.output
    result = _json(first.output)
    assert result["rows_read"] == len(UNRATED) == result["rows_scored"]
    assert result["published"]["inserted"] == len(UNRATED)
    table = _table(cfg)
    assert sorted(table) == sorted(tconst(i) for i in UNRATED)  # tvEpisodes and rated: not scored

    # The stored probabilities are the champion's predict_proba on the same rows.
    from support.scoring_fixtures import movie

    model = load_champion(cfg).model
    items = []
    for i in UNRATED:
        row = movie(i)
        items.append(
            {"title": row[2], "genres": "" if row[8] == r"\N" else row[8],
             "year": row[5], "runtime_minutes": row[7]}
        )  # fmt: skip
    expected = model.predict_proba(to_model_frame(items))[:, 1]
    got = np.array([table[tconst(i)][0] for i in UNRATED])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert all(table[tconst(i)][1] == int(table[tconst(i)][0] >= 0.5) for i in UNRATED)
    assert {v[2] for v in table.values()} == {version}
    lake = open_lake(cfg)
    copies = lake.fs.find(lake.path(f"predictions/model_version={version}"))
    assert len(copies) == 1 and copies[0].endswith(".parquet")

    # Nothing has a rating yet: a verdict, not an error.
    early = _cli("monitor", "performance", "--json")
    assert early.exit_code == 0, early.output
    assert _json(early.output)["verdict"] == "no_labels_yet"

    # Two API predictions that carried a tconst (written by the real prediction log).
    log = PredictionLog(cfg)
    api_items = {tconst(21): 0.91, tconst(22): 0.12}
    log.record(
        {"ts": time.time(), "request_id": "r", "title": "t", "genres": "Drama", "year": None,
         "runtime_minutes": None, "probability": p, "label": int(p >= 0.5),
         "model_version": version, "latency_ms": 1.0, "tconst": t}
        for t, p in api_items.items()
    )  # fmt: skip
    log.close()
    time.sleep(0.01)  # the later dump's stamp must follow the scores

    ingest_imdb(cfg, *later_dump(tmp_path / "dump2"))
    second = _cli("score", "--warehouse", "--json")
    assert second.exit_code == 0, second.output
    result = _json(second.output)
    still_unrated = [i for i in UNRATED if i not in GET_RATED]
    assert result["rows_read"] == len(still_unrated) + len(NEW)
    # Only the new titles and the retitled one are scored again.
    assert result["rows_scored"] == len(NEW) + 1
    assert result["rows_skipped"] == len(still_unrated) - 1
    after = _table(cfg)
    assert after[tconst(CHANGED)][3] != table[tconst(CHANGED)][3]  # new data_md5
    assert after[tconst(CHANGED)][4] > table[tconst(CHANGED)][4]
    for i in still_unrated:
        if i != CHANGED:
            assert after[tconst(i)] == table[tconst(i)]

    report_run = _cli("monitor", "performance", "--json")
    report = _json(report_run.output)
    # Expected numbers, computed here from the same rows with sklearn.
    from support.scoring_fixtures import later_rating

    probs = [table[tconst(i)][0] for i in GET_RATED] + list(api_items.values())
    ratings = [float(later_rating(i)) for i in GET_RATED] + [
        float(later_rating(int(t[2:]) - 1000000)) for t in api_items
    ]
    y = np.array([label_from_rating(r) for r in ratings])
    p = np.array(probs)
    auc = roc_auc_score(y, p)
    assert report["rows_matched"] == len(GET_RATED) + len(api_items)
    (v,) = report["versions"]
    assert v["model_version"] == version
    assert v["sources"] == {"batch": len(GET_RATED), "api": len(api_items)}
    assert v["metrics"]["roc_auc"] == pytest.approx(auc, abs=1e-6)
    assert v["metrics"]["accuracy"] == pytest.approx(accuracy_score(y, p >= 0.5), abs=1e-6)
    assert v["metrics"]["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-6)
    assert v["test_metrics"]["roc_auc"] == pytest.approx(0.99)
    assert len(v["months"]) == 1 and v["months"][0]["rows"] == len(p)
    bins = np.clip((p * 10).astype(int), 0, 9)
    for k, b in enumerate(v["calibration"]):
        assert b["rows"] == int((bins == k).sum())
        if b["rows"]:
            assert b["observed_rate"] == pytest.approx(y[bins == k].mean())
            assert b["mean_predicted"] == pytest.approx(p[bins == k].mean())
    dropped = 0.99 - auc > 0.05
    assert report["verdict"] == ("performance_drop" if dropped else "ok")
    assert report_run.exit_code == (3 if dropped else 0), report_run.output
    latest = json.loads((cfg.monitoring.reports_dir / "performance" / "latest.json").read_text())
    assert latest["run_id"] == report["run_id"]

    # The gauges the serving app exposes read that report.
    from prometheus_client import CollectorRegistry, generate_latest

    from imdbops.monitoring.performance_metrics import PerformanceCollector

    registry = CollectorRegistry()
    registry.register(PerformanceCollector(cfg))
    text = generate_latest(registry).decode()
    assert f"imdbops_performance_drop_detected {1.0 if dropped else 0.0}" in text
    assert f'imdbops_performance_rows_matched{{model_version="{version}"}} 22.0' in text

    # A window judges only what was scored in its last N days of the clock.
    from datetime import UTC, datetime, timedelta

    later = datetime.now(UTC) + timedelta(days=3)
    monkeypatch.setenv("IMDBOPS_NOW", later.isoformat())
    for days, rows in ((2, 0), (4, report["rows_matched"])):
        monkeypatch.setenv("IMDBOPS_MONITORING__PERFORMANCE_WINDOW_DAYS", str(days))
        windowed = _json(_cli("monitor", "performance", "--json").output)
        assert windowed["rows_matched"] == rows
        since = datetime.fromisoformat(windowed["scored_since"])
        assert abs(since - (later - timedelta(days=days)).replace(tzinfo=None)).total_seconds() < 5
    assert windowed["versions"][0]["metrics"] == v["metrics"]


def test_file_source_with_output_and_bad_files(project, tmp_path):
    cfg = project
    good = tmp_path / "movies.csv"
    good.write_text(
        'title,genres,year\nThe Matrix,"Action,Sci-Fi",1999\nAmélie,comedy,\n'
        'Heat,"Crime,Drama",1995\n'
    )
    out = tmp_path / "scored.parquet"
    ok = _cli("score", "--input", str(good), "--output", str(out))
    assert ok.exit_code == 0, ok.output
    import pandas as pd

    scored = pd.read_parquet(out)
    assert list(scored["title"]) == ["The Matrix", "Amélie", "Heat"]
    assert list(scored["genres"]) == ["Action,Sci-Fi", "Comedy", "Crime,Drama"]
    model = load_champion(cfg).model
    expected = model.predict_proba(
        to_model_frame(
            [
                {"title": "The Matrix", "genres": "Action,Sci-Fi", "year": 1999},
                {"title": "Amélie", "genres": "Comedy"},
                {"title": "Heat", "genres": "Crime,Drama", "year": 1995},
            ]
        )
    )[:, 1]
    np.testing.assert_allclose(scored["probability"], expected, rtol=1e-12)
    assert not cfg.warehouse.path.exists()  # no tconst: nothing for the predictions table

    no_out = _cli("score", "--input", str(good))
    assert no_out.exit_code == 1 and "pass --output FILE" in no_out.output

    cases = {
        "no_genres.csv": ("title,year\nHeat,1995\n", "no genres column"),
        "bad_genre.csv": (
            'title,genres,tconst\nHeat,Drama,tt0113277\nX,"Drama,Cowboy",tt0000002\n',
            "row 2: unknown genre(s) 'Cowboy'",
        ),
        "bad_id.csv": ("title,genres,tconst\nHeat,Drama,113277\n", "row 1: tconst '113277'"),
        "bad_year.csv": ("title,genres,year\nHeat,Drama,soon\n", "row 1: year 'soon'"),
        "blank.csv": ("title,genres\nHeat,Drama\n ,Drama\n", "row 2: empty title"),
        "garbage.parquet": ("this is not parquet", "cannot read it as Parquet"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_text(content)
        res = _cli("score", "--input", str(path))
        assert res.exit_code == 1, (name, res.output)
        line = res.output.strip().splitlines()[-1]
        assert str(path) in line and message in line, (name, res.output)
    # Nothing written by any failed run.
    assert not cfg.warehouse.path.exists()
    assert not list((cfg.paths.state_dir / "scoring").glob("*"))
