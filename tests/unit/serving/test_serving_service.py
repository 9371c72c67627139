"""The prediction service without HTTP: unknown genres, strictness, log records."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from imdbops.monitoring.prediction_log import PredictionLog
from imdbops.serving.batching import MicroBatcher
from imdbops.serving.predictor import ModelHolder
from imdbops.serving.schemas import MovieItem
from imdbops.serving.service import (
    GenresUnknownToModelError,
    ModelNotReadyError,
    PredictionService,
    batch_predict_fn,
)


def items(*specs) -> list[MovieItem]:
    return [MovieItem(title=t, genres=g, year=2013) for t, g in specs]


def serve(cfg, loaded, body, *, version="1", with_vocabulary=True, load=True):
    """Run ``body(service)`` against a started service over the real small model."""

    async def main():
        model = loaded(version, with_vocabulary)
        holder = ModelHolder(cfg, loader=lambda _cfg: model, alias_lookup=lambda _cfg: version)
        if load:
            holder.load()
        batcher = MicroBatcher(batch_predict_fn(holder), max_size=64, max_wait_ms=1)
        plog = PredictionLog(cfg)
        service = PredictionService(cfg, holder, batcher, plog)
        batcher.start()
        try:
            return await body(service)
        finally:
            await batcher.stop()
            plog.close()

    return asyncio.run(main())


def test_genres_the_model_never_saw_are_listed_and_change_nothing(cfg, loaded, fitted):
    _, vocab = fitted
    assert "Horror" not in vocab.known and "Comedy" in vocab.known

    async def body(service):
        return await service.predict(
            items(
                ("Scary Movie 5", ["Comedy"]),
                ("Scary Movie 5", ["Comedy", "Horror"]),
                ("Scary Movie 5", ["Comedy", "Sci-Fi", "Thriller", "Crime"]),
            )
        )

    outcome = serve(cfg, loaded, body)
    plain, horror, many = outcome.predictions
    assert plain["unknown_to_model"] == []
    assert horror["unknown_to_model"] == ["Horror"]
    assert many["unknown_to_model"] == ["Crime", "Sci-Fi", "Thriller"]
    # Ignored means ignored: the same probability with or without them.
    assert horror["probability"] == plain["probability"] == many["probability"]
    assert outcome.unknown == {"Horror": 1, "Crime": 1, "Sci-Fi": 1, "Thriller": 1}
    assert "never saw" in outcome.message and "Horror (1 item)" in outcome.message


def test_known_genres_give_no_message(cfg, loaded):
    async def body(service):
        return await service.predict(items(("Up", ["Animation", "Comedy"])))

    outcome = serve(cfg, loaded, body)
    assert outcome.message is None and outcome.unknown == {}
    assert outcome.predictions[0]["unknown_to_model"] == []


def test_strict_genres_refuses_naming_the_items_and_genres(cfg, loaded):
    async def body(service):
        with pytest.raises(GenresUnknownToModelError) as caught:
            await service.predict(
                items(("Up", ["Animation"]), ("Saw", ["Horror", "Mystery"])), strict=True
            )
        # Strict with known genres only answers normally.
        ok = await service.predict(items(("Up", ["Animation"])), strict=True)
        return caught.value, ok

    error, ok = serve(cfg, loaded, body)
    assert error.by_item == {1: ["Horror", "Mystery"]}
    assert error.genres == ["Horror", "Mystery"]
    assert "items[1]" in str(error) and "strict_genres false" in str(error)
    assert ok.predictions[0]["label"] in ("like", "dislike")


def test_a_model_without_a_vocabulary_reports_nothing_unknown(cfg, loaded):
    async def body(service):
        return await service.predict(items(("Saw", ["Horror"])), strict=True)

    outcome = serve(cfg, loaded, body, with_vocabulary=False)
    assert outcome.predictions[0]["unknown_to_model"] == []


def test_no_model_is_a_not_ready_error_with_the_fix(cfg, loaded):
    async def body(service):
        with pytest.raises(ModelNotReadyError, match="imdbops pipeline run"):
            await service.predict(items(("Up", [])))

    serve(cfg, loaded, body, load=False)


def test_every_item_becomes_one_log_record(cfg, loaded):
    async def body(service):
        return await service.predict(items(("Up", ["Animation"]), ("Saw", ["Horror"])))

    outcome = serve(cfg, loaded, body, version="3")
    files = sorted(cfg.monitoring.prediction_log_dir.rglob("*.parquet"))
    logged = pd.concat([pd.read_parquet(f) for f in files])
    assert sorted(logged["title"]) == ["Saw", "Up"]
    assert set(logged["model_version"]) == {"3"}
    assert logged["request_id"].nunique() == 1
    by_title = logged.set_index("title")
    assert by_title.loc["Saw", "genres"] == "Horror"
    assert by_title.loc["Up", "probability"] == outcome.predictions[0]["probability"]
