"""The API takes an optional IMDb id per item, refuses a malformed one (4xx), and logs it,
so `imdbops monitor performance` can match the prediction with the rating later."""

from __future__ import annotations

import duckdb
import httpx
from integration.scoring.conftest import project_config
from support.serving import ServerThread

from imdbops.serving.app import create_app


def test_tconst_is_validated_and_logged(tmp_path, monkeypatch, shared_tracking):
    monkeypatch.delenv("IMDBOPS_CONFIG", raising=False)
    cfg, _ = project_config(tmp_path, shared_tracking, monitoring={"flush_interval_s": 0.1})
    server = ServerThread(create_app(cfg)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            ok = client.post(
                "/api/v1/predict",
                json={"items": [
                    {"title": "The Matrix", "genres": ["Action"], "tconst": "tt0133093"},
                    {"title": "Heat", "genres": ["Crime"]},
                ]},
            )  # fmt: skip
            assert ok.status_code == 200, ok.text
            for bad in ("0133093", "tt", "tt12a", "nm0000206", 133093):
                res = client.post(
                    "/api/v1/predict",
                    json={"items": [{"title": "X", "genres": [], "tconst": bad}]},
                )
                assert res.status_code == 422, (bad, res.text)
                assert "items[0].tconst" in res.json()["message"], res.text
    finally:
        server.stop()
    rows = (
        duckdb.connect()
        .execute(
            "select title, tconst from read_parquet('"
            f"{cfg.monitoring.prediction_log_dir}/**/*.parquet') order by title"
        )
        .fetchall()
    )
    assert rows == [("Heat", None), ("The Matrix", "tt0133093")]
