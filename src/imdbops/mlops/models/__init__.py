"""Model catalogue: every model is a named ModelSpec that builds one sklearn Pipeline.

The ML lifecycle (tune/train/evaluate/serve) uses only this interface: ``MODEL_NAMES``,
``get_spec(name)``, ``ModelSpec`` and ``skops_trusted_types()``. Importing this package does
not import lightgbm or mlflow; the default model imports lightgbm when it is built.
"""

from __future__ import annotations

from imdbops.mlops.models.baselines import LOGREG, MAJORITY, REFERENCE
from imdbops.mlops.models.default import DEFAULT
from imdbops.mlops.models.spec import ModelSpec, OnEpoch

_SPECS: dict[str, ModelSpec] = {
    "default": DEFAULT,
    "reference": REFERENCE,
    "logreg": LOGREG,
    "majority": MAJORITY,
}
MODEL_NAMES: tuple[str, ...] = tuple(_SPECS)


class UnknownModelError(ValueError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(
            f"unknown model {name!r}; allowed: {', '.join(MODEL_NAMES)} "
            "(set training.model in the config)"
        )


def get_spec(name: str) -> ModelSpec:
    """The ModelSpec called ``name``; raises UnknownModelError listing the allowed names."""
    try:
        return _SPECS[name]
    except (KeyError, TypeError):
        raise UnknownModelError(name) from None


def skops_trusted_types() -> list[str]:
    """Every non-sklearn type inside our pipelines, for ``skops.io.load(..., trusted=...)``."""
    return [
        "imdbops.mlops.models.features.PrepareInput",
        "imdbops.mlops.models.features.GenreOneHot",
        "imdbops.mlops.models.features.TitleStats",
        "imdbops.mlops.models.features.TextWithGenres",
        "imdbops.mlops.models.ngrams.CharNgramTfidf",
        "imdbops.mlops.models.stack.TextStackClassifier",
        "imdbops.mlops.models.static_embed.StaticEmbedder",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.basic.Booster",
        "collections.OrderedDict",
    ]


__all__ = [
    "MODEL_NAMES",
    "ModelSpec",
    "OnEpoch",
    "UnknownModelError",
    "get_spec",
    "skops_trusted_types",
]
