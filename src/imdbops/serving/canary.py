"""The canary: a share of titles answered by another version (``serving.canary``, default the
``challenger`` alias) instead of the champion.

A title is in the canary when a hash of its IMDb id (else of its case-folded title) falls
below ``serving.canary_fraction``: the same title always gets the same version, on every
replica, so a user asking twice sees one answer. Canary items are scored in the request
(they are answers), in one call for the request's canary items; each is marked
``"canary": true`` in the response and ``role = "canary"`` in the prediction log, with the
canary's version. When the canary version is not loaded, is the champion, or fails, the
champion's answer stands (counted), so the canary can never fail a request. Explained
requests (``explain: true``) are answered by the champion only.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.serving.shadow_models import ModelSet

log = get_logger("serving.canary")

_SPACE = 2**64


def in_canary(key: str, fraction: float) -> bool:
    """Whether ``key`` (a tconst or title) is in the canary share ``fraction`` (sticky)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * _SPACE


def canary_key(item: Any) -> str:
    return getattr(item, "tconst", None) or str(item.title).casefold()


class Canary:
    """Which items the canary answers, and their answers."""

    def __init__(self, cfg: Config, models: ModelSet | None = None):
        self.fraction = float(cfg.serving.canary_fraction)
        self.target = cfg.serving.canary
        self.enabled = self.fraction > 0
        self.models = models or ModelSet(cfg, [self.target])
        self.answered = 0
        self.fallbacks = 0  # canary items the champion answered (canary missing or failing)

    def picks(self, items: Sequence[Any]) -> list[int]:
        f = self.fraction
        return [i for i, it in enumerate(items) if in_canary(canary_key(it), f)]

    async def score(
        self, rows: list[dict[str, Any]], picks: list[int], champion_version: str
    ) -> tuple[list[float], str] | None:
        """The canary's probabilities for ``rows[picks]`` and its version; None: champion."""
        model = self.models.current.get(self.target)
        if model is None or str(model.version) == champion_version:
            self.fallbacks += len(picks) if model is None else 0
            return None
        from imdbops.mlops.transform import to_model_frame

        def predict() -> list[float]:
            return model.model.predict_proba(to_model_frame([rows[i] for i in picks]))[
                :, 1
            ].tolist()

        try:
            probs = await asyncio.to_thread(predict)
        except Exception as exc:  # noqa: BLE001 - the champion's answer stands
            self.fallbacks += len(picks)
            log.warning("canary version %s failed (%s); the champion answered", model.version, exc)
            return None
        self.answered += len(picks)
        return probs, str(model.version)
