"""Hostile requests against a real server: each is rejected with a 4xx or handled, never a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
from support.ports import free_port
from support.relkit import ServerProcess, count_logged_predictions, write_config
from support.serving import register_champion

from imdbops.config import load_config

ODD_TITLES = {
    "csv_injection": "=cmd|' /C calc'!A0",
    "csv_injection_plus": "+SUM(1+1)*cmd|' /C calc'!A0",
    "control_chars": "Heat\x00\x07\x1b[31m\r\nRed",
    "rtl_marks": "\u202eTaeh\u202c \u200fالقاهرة\u200e",
    "zero_width_and_emoji": "Am\u200belie \U0001f3ac",
}
TRAVERSALS = [
    "/api/v1/args/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/v1/performance?filter=../../../../etc/passwd",
    "/static/..%2F..%2F..%2F..%2Fpyproject.toml",
    "/static/../../../../../etc/passwd",
    "/monitoring/report/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/v1/monitoring/report/..%2F..%2Fimdbops.yaml",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    config = write_config(root)
    cfg = load_config(config)
    register_champion(cfg, tag="v1")
    srv = ServerProcess(config, free_port()).start()
    yield srv, cfg
    srv.stop()


def test_odd_titles_are_predicted_and_logged_verbatim(server, record):
    srv, cfg = server
    items = [{"title": t, "genres": ["Drama"]} for t in ODD_TITLES.values()]
    resp = httpx.post(srv.url + "/api/v1/predict", json={"items": items}, timeout=30)
    assert resp.status_code == 200, resp.text
    probs = [p["probability"] for p in resp.json()["data"]["predictions"]]
    assert all(0.0 <= p <= 1.0 for p in probs)
    record(
        "hostile input",
        "odd titles via the API",
        "CSV-injection formulas, control characters, right-to-left marks, zero-width + emoji",
        "predicted (200), probabilities in [0,1]",
        titles=len(items),
    )


def test_ten_thousand_character_title_is_rejected_with_a_message(server, record):
    srv, _ = server
    resp = httpx.post(
        srv.url + "/api/v1/predict", json={"items": [{"title": "x" * 10_000}]}, timeout=30
    )
    assert resp.status_code == 422
    body = resp.json()
    assert "300" in body["message"] and "items.0" in body["message"].replace("[0]", ".0")
    record(
        "hostile input",
        "10,000-character title",
        "POST /api/v1/predict with one 10,000-character title",
        f"HTTP {resp.status_code}: {body['message'][:80]}",
    )


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_refused(server, path, record):
    srv, _ = server
    resp = httpx.get(srv.url + path, timeout=30)
    assert 400 <= resp.status_code < 500, (path, resp.status_code)
    assert "root:" not in resp.text and "[project]" not in resp.text and "paths:" not in resp.text
    record(
        "hostile input",
        f"path traversal {path}",
        f"GET {path}",
        f"HTTP {resp.status_code}, no file content returned",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'{"items": null}',
        b'{"items": [null]}',
        b'{"items": [{"title": ["a"], "genres": [1, 2]}]}',
        b'{"items": [{"title": "a", "genres": ["Drama"], "year": "nineteen"}]}',
        b'{"items": [{"title": "a", "genres": ["Drama"], "year": 1e308}]}',
        b'{"items": [{"title": "a", "genres": ["../../etc/passwd"]}]}',
        b"\xff\xfe\x00garbage",
        json.dumps({"items": [{"title": "a" * 5, "genres": ["x" * 100_000]}]}).encode(),
    ],
)
def test_malformed_bodies_get_4xx(server, body):
    srv, _ = server
    resp = httpx.post(
        srv.url + "/api/v1/predict",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert 400 <= resp.status_code < 500, (body[:60], resp.status_code, resp.text[:200])
    assert resp.json()["message"]


def test_prediction_log_holds_odd_titles_verbatim(server):
    srv, cfg = server
    import duckdb

    httpx.post(
        srv.url + "/api/v1/predict",
        json={"items": [{"title": t, "genres": []} for t in ODD_TITLES.values()]},
        timeout=30,
    )
    srv.stop()  # flush
    assert count_logged_predictions(cfg.monitoring.prediction_log_dir) >= 1
    titles = {
        r[0]
        for r in duckdb.connect()
        .execute(
            f"select title from read_parquet('{cfg.monitoring.prediction_log_dir}/**/*.parquet')"
        )
        .fetchall()
    }
    assert ODD_TITLES["csv_injection"] in titles
    assert ODD_TITLES["rtl_marks"] in titles
