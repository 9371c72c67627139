"""Genres the served model never saw, over the real server and a real MLflow registry."""

from __future__ import annotations

import pytest
from support.serving import running_server

from imdbops.mlops import vocabulary
from imdbops.serving.app import create_app


def _predict(client, items, **extra):
    return client.post("/api/v1/predict", json={"items": items, **extra})


def test_each_prediction_lists_the_genres_the_model_does_not_know(client):
    # The small model is trained on the bundled data's 7 genre flags.
    items = [
        {"title": "Scary Movie 5", "genres": ["Comedy"]},
        {"title": "Scary Movie 5", "genres": ["Comedy", "Horror"]},
        {"title": "Scary Movie 5", "genres": ["Comedy", "Sci-Fi", "Thriller", "Crime"]},
    ]
    response = _predict(client, items)
    assert response.status_code == 200, response.text
    body = response.json()
    plain, horror, many = body["data"]["predictions"]
    assert plain["unknown_to_model"] == []
    assert horror["unknown_to_model"] == ["Horror"]
    assert many["unknown_to_model"] == ["Crime", "Sci-Fi", "Thriller"]
    assert plain["probability"] == horror["probability"] == many["probability"]
    message = body["message"]
    assert "never saw" in message and "Horror (1 item)" in message
    assert "Crime (1 item)" in message


def test_known_genres_answer_exactly_as_before(client):
    body = _predict(client, [{"title": "Toy Story", "genres": ["Animation", "Comedy"]}]).json()
    assert body["message"] == "OK"
    assert body["data"]["predictions"][0]["unknown_to_model"] == []


def test_strict_genres_is_a_409_naming_the_genres_and_items(client):
    items = [
        {"title": "Up", "genres": ["Animation"]},
        {"title": "Saw", "genres": ["Horror", "Mystery"]},
    ]
    response = _predict(client, items, strict_genres=True)
    # Valid per the OpenAPI document; refused by the served model's vocabulary: a conflict.
    assert response.status_code == 409, response.text
    body = response.json()
    assert "Horror, Mystery" in body["message"] and "items[1]" in body["message"]
    assert "strict_genres false" in body["message"]
    assert body["data"]["unknown_to_model"] == ["Horror", "Mystery"]
    assert body["data"]["errors"][0]["item"] == 1
    ok = _predict(client, items[:1], strict_genres=True)
    assert ok.status_code == 200 and ok.json()["data"]["predictions"][0]["unknown_to_model"] == []


@pytest.mark.parametrize("value", ["yes please", 3, None, [True]])
def test_a_bad_strict_genres_value_is_a_422(client, value):
    response = _predict(client, [{"title": "Up", "genres": []}], strict_genres=value)
    assert response.status_code == 422, response.text
    assert "strict_genres" in response.json()["message"]


def test_the_model_card_says_which_genres_the_model_knows(client):
    card = client.get("/api/v1/model").json()["data"]
    bundled = ["Action", "Animation", "Comedy", "Documentary", "Drama", "Romance", "Short"]
    assert card["known_genres"] == bundled
    assert "Horror" in card["unknown_genres"] and len(card["unknown_genres"]) == 21
    vocab = card["vocabulary"]
    assert vocab["rows"] == 1000 and sum(vocab["genres"].values()) >= 1000 // 2
    assert set(vocab["genres"]) == set(bundled)


def test_an_older_version_gets_its_vocabulary_from_its_logged_training_split(
    tmp_path, small_model, config_factory
):
    """A version registered before vocabularies existed: computed on first load, then kept."""
    import pandas as pd

    from imdbops.mlops.registry import log_model_version, set_alias
    from imdbops.mlops.tracking import ensure_experiment, get_client

    cfg = config_factory(tmp_path)
    processed = tmp_path / "processed.parquet"
    pd.DataFrame(
        {
            "tconst": ["tt1", "tt2", "tt3", "tt4"],
            "genres": ["Drama,Horror", "Horror", "Comedy", "Western"],
        }
    ).to_parquet(processed)
    split = tmp_path / "split"
    split.mkdir()
    (split / "train_tconst.txt").write_text("tt1\ntt2\ntt3\n")  # tt4 is a test movie
    (split / "split.json").write_text(f'{{"source": "{processed}"}}')
    client = get_client(cfg)
    run_id = client.create_run(ensure_experiment(cfg), run_name="train").info.run_id
    client.log_artifacts(run_id, str(split), "split")
    info = log_model_version(
        cfg, small_model, metrics={}, params={}, tags={"trained_at": "2026"}, run_id=run_id
    )
    # Registration already recorded it from the logged split ...
    tag = client.get_model_version(cfg.tracking.model_name, info.version).tags
    assert vocabulary.from_tag(tag[vocabulary.VOCABULARY_TAG]).genres == {
        "Comedy": 1, "Drama": 1, "Horror": 2
    }  # fmt: skip
    # ... and a version from before that gets it on its first load.
    client.delete_model_version_tag(
        cfg.tracking.model_name, info.version, vocabulary.VOCABULARY_TAG
    )
    set_alias(cfg, info.version)
    with running_server(create_app(cfg)) as srv:
        import httpx

        card = httpx.get(srv.url + "/api/v1/model").json()["data"]
        assert card["known_genres"] == ["Comedy", "Drama", "Horror"]
        assert card["vocabulary"]["rows"] == 3
        answer = httpx.post(
            srv.url + "/api/v1/predict",
            json={"items": [{"title": "Rio Bravo", "genres": ["Western", "Horror"]}]},
        ).json()
        assert answer["data"]["predictions"][0]["unknown_to_model"] == ["Western"]
    tags = client.get_model_version(cfg.tracking.model_name, info.version).tags
    assert vocabulary.from_tag(tags[vocabulary.VOCABULARY_TAG]).rows == 3
