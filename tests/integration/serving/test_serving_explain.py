"""``"explain": true`` through a real server: reasons that add up, and a 409, never a 500."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.serving import ServerThread, register_champion

from imdbops.serving.app import create_app


def _predict(client, items, **extra):
    return client.post("/api/v1/predict", json={"items": items, **extra})


def test_explanations_add_up_to_the_served_probability(client):
    items = [
        {"title": "The Matrix", "genres": ["Action", "Sci-Fi"], "year": 1999},
        {"title": "Scary Movie 5", "genres": ["Comedy", "Horror"]},
        {"title": "Toy Story 2", "genres": ["Animation", "Comedy"], "runtime_minutes": 92},
    ]
    plain = _predict(client, items).json()["data"]["predictions"]
    explained = _predict(client, items, explain=True)
    assert explained.status_code == 200, explained.text
    for p, e in zip(plain, explained.json()["data"]["predictions"], strict=True):
        exp = e["explanation"]
        assert e["probability"] == pytest.approx(p["probability"], abs=1e-9)
        total = exp["base_value"] + sum(c["contribution"] for c in exp["contributions"])
        assert total == pytest.approx(exp["raw_score"], abs=1e-6)
        assert 1 / (1 + math.exp(-exp["raw_score"])) == pytest.approx(p["probability"], abs=1e-6)
        assert exp["reasons"] and exp["text_models"][0]["words"]
    assert "explanation" not in plain[0]


def test_explaining_a_thousand_items_stays_within_the_limits(client):
    items = [{"title": f"Movie {i} returns", "genres": ["Drama"]} for i in range(1000)]
    response = _predict(client, items, explain=True)
    assert response.status_code == 200
    predictions = response.json()["data"]["predictions"]
    assert len(predictions) == 1000 and all(p["explanation"]["reasons"] for p in predictions)


def test_explain_must_be_a_boolean(client):
    response = _predict(client, [{"title": "x", "genres": []}], explain="yes please")
    assert response.status_code == 422
    assert "explain" in response.text


def test_a_model_that_cannot_explain_answers_409_and_still_predicts(config_factory, tmp_path):
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    from imdbops.mlops.transform import to_model_frame

    frame = to_model_frame([{"title": "a", "genres": []}, {"title": "b", "genres": []}])
    foreign = Pipeline([("classifier", DummyClassifier(strategy="prior"))])
    foreign.fit(frame, np.array([0, 1]))
    cfg = config_factory(tmp_path)
    register_champion(cfg, foreign)
    srv = ServerThread(create_app(cfg)).start()
    try:
        import httpx

        with httpx.Client(base_url=srv.url, timeout=30) as c:
            items = [{"title": "Alien", "genres": ["Horror"]}]
            refused = _predict(c, items, explain=True)
            assert refused.status_code == 409  # a valid request the served model cannot honour
            assert "cannot explain" in refused.json()["message"]
            assert _predict(c, items).status_code == 200
    finally:
        srv.stop()
