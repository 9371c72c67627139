"""The API against a real uvicorn server and a real model from a temporary MLflow store."""

from __future__ import annotations

import json
import socket

import pytest

from imdbops.genres import IMDB_GENRES

ENVELOPE_KEYS = {"message", "method", "status-code", "timestamp", "url", "data"}


def _predict(client, items):
    return client.post("/api/v1/predict", json={"items": items})


def test_predict_happy_path_batch(client):
    items = [
        {
            "title": "The Matrix",
            "genres": ["Sci-Fi", "Action"],
            "year": 1999,
            "runtime_minutes": 136,
        },
        {"title": "Toy Story", "genres": ["Animation", "Comedy"]},
        {"title": "Untitled", "genres": []},
    ]
    response = _predict(client, items)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["status-code"] == 200 and body["method"] == "POST"
    predictions = body["data"]["predictions"]
    assert [p["title"] for p in predictions] == [i["title"] for i in items]
    for p in predictions:
        assert p["label"] in ("like", "dislike")
        assert 0.0 <= p["probability"] <= 1.0
        assert (p["label"] == "like") == (p["probability"] >= 0.5)
        assert p["model_version"] == "1"
    assert body["data"]["model"]["version"] == "1"


def test_genre_order_and_repeats_do_not_change_the_answer(client):
    shuffled = _predict(client, [{"title": "Alien", "genres": ["Sci-Fi", "Horror", "Sci-Fi"]}])
    canonical = _predict(client, [{"title": "Alien", "genres": ["Horror", "Sci-Fi"]}]).json()
    assert shuffled.json()["data"]["predictions"][0]["probability"] == pytest.approx(
        canonical["data"]["predictions"][0]["probability"]
    )
    # The OpenAPI document's enum is the contract: another spelling is a 422 naming the fix.
    lower = _predict(client, [{"title": "Alien", "genres": ["horror"]}])
    assert lower.status_code == 422
    assert "'horror'" in lower.json()["message"] and "GET /api/v1/genres" in lower.json()["message"]


@pytest.mark.parametrize(
    "extra",
    [
        {"explain": 0},
        {"strict_genres": "true"},
        {"items": [{"title": "A", "genres": [], "year": 1999.5}]},
        {"items": [{"title": "A", "genres": [], "year": "1999"}]},
        {"items": [{"title": "A", "genres": [], "runtime_minutes": "90"}]},
        {"items": [{"title": "A", "genres": [], "tconst": 133093}]},
    ],
)
def test_values_of_another_json_type_are_refused_not_coerced(client, extra):
    body = {"items": [{"title": "A", "genres": []}], **extra}
    response = client.post("/api/v1/predict", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["data"]["errors"][0]["fix"].startswith("send ")


def test_thousand_items_is_accepted(client):
    items = [{"title": f"Movie {i}", "genres": ["Drama"]} for i in range(1000)]
    response = _predict(client, items)
    assert response.status_code == 200
    assert len(response.json()["data"]["predictions"]) == 1000


@pytest.mark.parametrize(
    "title",
    [
        "Zero\x00width\x07bell\x1b[31m",
        "\u202eevil RTL override\u202c and \u200f marks",
        "=cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "x" * 300,
        "🎬 Émoji & ünïcödé — 東京物語",
    ],
)
def test_unusual_titles_are_predicted(client, title):
    response = _predict(client, [{"title": title, "genres": ["Drama"]}])
    assert response.status_code == 200, response.text
    assert response.json()["data"]["predictions"][0]["title"] == title


@pytest.mark.parametrize(
    ("payload", "status", "needles"),
    [
        (
            {"items": [{"genres": ["Drama"]}]},
            422,
            ["items[0].title", "Field required", "add the field"],
        ),
        ({"items": [{"title": "A"}]}, 422, ["items[0].genres", "Field required"]),
        ({"items": [{"title": "", "genres": []}]}, 422, ["items[0].title", "non-empty"]),
        ({"items": [{"title": "   ", "genres": []}]}, 422, ["items[0].title", "blank"]),
        ({"items": [{"title": "x" * 301, "genres": []}]}, 422, ["items[0].title", "300"]),
        ({"items": [{"title": "x" * 10_000, "genres": []}]}, 422, ["items[0].title", "300"]),
        (
            {
                "items": [
                    {"title": "A", "genres": []},
                    {"title": "B", "genres": ["Drama", "Kung-Fu"]},
                ]
            },
            422,
            ["items[1].genres", "'Kung-Fu'", "Sci-Fi", "Western"],
        ),
        ({"items": [{"title": 42, "genres": []}]}, 422, ["items[0].title", "valid string"]),
        ({"items": [{"title": "A", "genres": "Drama"}]}, 422, ["items[0].genres", "valid array"]),
        (
            {"items": [{"title": "A", "genres": [], "year": "soon"}]},
            422,
            ["items[0].year", "whole number"],
        ),
        ({"items": [{"title": "A", "genres": [], "year": 1500}]}, 422, ["items[0].year", "1870"]),
        (
            {"items": [{"title": "A", "genres": [], "runtime_minutes": -3}]},
            422,
            ["runtime_minutes"],
        ),
        (
            {"items": [{"title": "A", "genres": [], "genre": ["x"]}]},
            422,
            ["items[0].genre", "remove it"],
        ),
        ({"items": []}, 422, ["items", "at least one item"]),
        ({"items": "The Matrix"}, 422, ["items", "valid array"]),
        ({"movies": []}, 422, ["items", "Field required"]),
        ([1, 2], 422, ["body", "an object"]),
        (
            {"items": [{"title": f"M{i}", "genres": []} for i in range(1001)]},
            422,
            ["items", "1000", "split the request"],
        ),
    ],
)
def test_bad_input_gets_an_actionable_4xx(client, payload, status, needles):
    response = client.post("/api/v1/predict", json=payload)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["status-code"] == status
    for needle in needles:
        assert needle in body["message"], (needle, body["message"])


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"items": [', b"\xff\xfe\x00garbage"])
def test_invalid_json_is_a_400_with_an_example(client, raw):
    response = client.post(
        "/api/v1/predict", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert "valid JSON" in response.json()["message"]


def test_body_over_one_megabyte_is_413(client):
    big = json.dumps({"items": [{"title": "x" * 300, "genres": ["Drama"]}] * 4000})
    response = client.post(
        "/api/v1/predict", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "1,000,000 bytes" in response.json()["message"]


def test_body_limit_does_not_trust_content_length(server):
    # A chunked body has no Content-Length: the limit must count the bytes that arrive.
    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            for _ in range(20):  # 1.3 MB in total
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may close the connection as soon as it has answered
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_model_card_performance_and_args(client):
    card = client.get("/api/v1/model").json()["data"]
    assert card["version"] == "1" and card["alias"] == "champion"
    assert card["data_md5"] == "0123456789abcdef0123456789abcdef"
    assert card["git_commit"] == "deadbeef" and card["trained_at"].startswith("2026")
    assert card["run_id"]

    perf = client.get("/api/v1/performance").json()["data"]["performance"]
    assert perf["roc_auc"] == pytest.approx(0.71)
    one = client.get("/api/v1/performance", params={"filter": "roc_auc"}).json()
    assert one["data"]["performance"] == {"roc_auc": pytest.approx(0.71)}
    missing = client.get("/api/v1/performance", params={"filter": "nope"})
    assert missing.status_code == 404
    assert "available: accuracy, f1, roc_auc" in missing.json()["message"]

    args = client.get("/api/v1/args").json()["data"]["args"]
    assert args["C"] == "2.0"
    assert client.get("/api/v1/args/C").json()["data"]["args"] == {"C": "2.0"}
    unknown = client.get("/api/v1/args/nope")
    assert unknown.status_code == 404 and "available: C" in unknown.json()["message"]


def test_health_ready_genres_docs_and_page(client):
    assert client.get("/api/v1/").json()["data"] == {"status": "ok", "model_loaded": True}
    assert client.get("/healthz").status_code == 200
    ready = client.get("/api/v1/ready")
    assert ready.status_code == 200 and ready.json()["data"]["ready"] is True
    assert client.get("/api/v1/genres").json()["data"]["genres"] == list(IMDB_GENRES)
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/predict" in spec["paths"]
    assert "PredictRequest" in spec["components"]["schemas"]
    assert client.get("/api/v1/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and 'id="predict-form"' in page.text
    assert client.get("/static/app.js").status_code == 200
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and "/api/v1/docs" in missing.json()["message"]


def test_admin_reload_needs_the_bearer_token(client, champion_cfg):
    assert client.post("/api/v1/admin/reload").status_code == 401
    wrong = client.post("/api/v1/admin/reload", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    token = champion_cfg.serving.admin_token.get_secret_value()
    ok = client.post("/api/v1/admin/reload", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["data"]["version"] == "1"


def test_metrics_expose_requests_predictions_and_model(client):
    _predict(client, [{"title": "Metrics Movie", "genres": ["Drama"]}])
    client.post("/api/v1/predict", json={"items": []})
    text = client.get("/metrics").text
    assert 'imdbops_http_requests_total{method="POST",route="/api/v1/predict",status="200"}' in text
    assert 'route="/api/v1/predict",status="422"' in text
    assert "imdbops_http_request_duration_seconds_bucket" in text
    assert "imdbops_predictions_total{label=" in text
    assert 'imdbops_model_info{name="imdb-movie-like",version="1"} 1.0' in text
    assert "imdbops_model_batch_rows_bucket" in text
