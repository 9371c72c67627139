"""A real small model for the serving unit tests (no server, no MLflow)."""

from __future__ import annotations

import pytest
from support.serving import train_small_model

from imdbops.mlops import vocabulary
from imdbops.mlops.registry import LoadedModel


@pytest.fixture(scope="session")
def fitted():
    """(real logreg pipeline fitted on 400 bundled rows, its training vocabulary)."""
    from support.serving import bundled_items

    from imdbops.mlops.transform import to_model_frame

    model, _ = train_small_model(n=400)
    items, _ = bundled_items(n=400)
    return model, vocabulary.from_frame(to_model_frame(items))


@pytest.fixture
def loaded(fitted):
    """``loaded(version)``: the fitted model as the registry would hand it to the holder."""
    model, vocab = fitted

    def make(version: str, with_vocabulary: bool = True) -> LoadedModel:
        return LoadedModel(
            model=model,
            name="imdb-like",
            version=version,
            alias="champion",
            run_id=f"run-{version}",
            tags={},
            metrics={},
            params={},
            vocabulary=vocab if with_vocabulary else None,
        )

    return make
