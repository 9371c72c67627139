"""The predict path's shortcuts keep today's answers: cached genre validation, the heap
frozen after a model swap."""

from __future__ import annotations

import gc
import json

import pytest
from pydantic import ValidationError

from imdbops.serving.predictor import GC_GEN0_THRESHOLD, ModelHolder
from imdbops.serving.schemas import PredictRequest


def _parse(genres) -> list[str]:
    body = json.dumps({"items": [{"title": "The Matrix", "genres": genres}]})
    return PredictRequest.model_validate_json(body).items[0].genres


def test_cached_genre_lists_are_normalized_and_never_shared():
    first = _parse(["Sci-Fi", "Action", "Action"])
    assert first == ["Action", "Sci-Fi"]  # IMDb's order, duplicates collapsed
    first.append("Drama")  # a caller changing its list must not change the next answer
    assert _parse(["Sci-Fi", "Action", "Action"]) == ["Action", "Sci-Fi"]
    assert _parse([]) == []


@pytest.mark.parametrize("spelling", ["sci-fi", " Action", "ACTION"])
def test_the_api_takes_genres_as_its_enum_spells_them(spelling):
    # The OpenAPI document's enum is the contract: another spelling is refused (422), naming
    # the genres to use (the CLI and batch files still match case-insensitively).
    with pytest.raises(ValidationError, match="unknown genre.*spelt as listed: Action"):
        _parse([spelling])


@pytest.mark.parametrize("attempt", [1, 2])  # a refusal is never cached as an answer
def test_an_unknown_genre_is_refused_every_time(attempt):
    with pytest.raises(ValidationError, match="unknown genre.*'Space Opera'"):
        _parse(["Drama", "Space Opera"])


def test_long_genre_strings_are_still_checked():
    with pytest.raises(ValidationError, match="unknown genre"):
        _parse(["x" * 1000])


def test_a_model_swap_freezes_the_heap_and_raises_the_gen0_threshold(cfg, loaded):
    before = gc.get_threshold()
    try:
        gc.unfreeze()
        holder = ModelHolder(cfg, loader=lambda _cfg: loaded("1"), alias_lookup=lambda _c: "1")
        assert holder.load().version == "1"
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= GC_GEN0_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
