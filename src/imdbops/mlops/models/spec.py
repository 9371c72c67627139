"""ModelSpec: what the ML lifecycle (tune/train/evaluate) needs to know about one model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from imdbops.mlops.models.params import Param, validate_params

OnEpoch = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class ModelSpec:
    """A named model: validated params -> an unfitted sklearn Pipeline, plus its search space.

    ``builder(params, seed)`` gets already-validated params; ``fitter`` (optional) replaces the
    plain ``pipeline.fit`` when a model trains epoch by epoch or needs the validation split.
    """

    name: str
    description: str
    default_params: dict
    rules: Mapping[str, Param] = field(repr=False, default_factory=dict)
    builder: Callable[[dict, int], Any] = field(repr=False, default=None)
    space: Callable[[Any], dict] | None = field(repr=False, default=None)
    fitter: Callable[..., Any] | None = field(repr=False, default=None)

    def validate(self, params: Mapping[str, Any] | None) -> dict:
        """Defaults overlaid with ``params``; raises ValueError naming a bad key or value."""
        return validate_params(self.name, self.rules, self.default_params, params or {})

    def build(self, params: Mapping[str, Any] | None, seed: int):
        """An unfitted Pipeline: model input frame in, ``predict_proba(X)[:, 1]`` = P(like)."""
        return self.builder(self.validate(params), int(seed))

    def search_space(self, trial) -> dict:
        """Optuna trial -> params for ``build``; an empty dict when there is nothing to tune."""
        return self.space(trial) if self.space is not None else {}

    def fit(self, pipeline, X_train, y_train, X_val=None, y_val=None, on_epoch=None, trial=None):
        """Fit ``pipeline`` in place and return it; epoch-wise models report to ``on_epoch``."""
        if self.fitter is not None:
            return self.fitter(
                pipeline, X_train, y_train, X_val, y_val, on_epoch=on_epoch, trial=trial
            )
        return pipeline.fit(X_train, y_train)
