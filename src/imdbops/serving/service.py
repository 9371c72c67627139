"""The prediction service: movie items -> predictions and prediction-log records.

It owns the model holder, the micro-batcher and the prediction log, and knows nothing about
HTTP: routes translate its exceptions into status codes, tests drive it without a server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from imdbops import clock
from imdbops.config import Config
from imdbops.genres import IMDB_GENRES
from imdbops.monitoring.prediction_log import PredictionLog
from imdbops.movies import MOVIE_FIELD_NAMES, is_liked
from imdbops.serving.batching import MicroBatcher
from imdbops.serving.predictor import NO_MODEL_HINT, ModelHolder

_NOTHING: frozenset[str] = frozenset()


class Item(Protocol):
    """A validated movie (``schemas.MovieItem``): one attribute per movie-record field."""

    title: str
    genres: list[str]


class ModelNotReadyError(RuntimeError):
    """No model is loaded; the message says why and what to run."""


class ExplainUnavailableError(ValueError):
    """The served model cannot explain its predictions (the reason says why)."""


class GenresUnknownToModelError(ValueError):
    """``strict_genres`` was asked and some items carry genres the model never saw."""

    def __init__(self, version: str, by_item: dict[int, list[str]]):
        self.version = version
        self.by_item = by_item
        genres = sorted({g for gs in by_item.values() for g in gs}, key=IMDB_GENRES.index)
        self.genres = genres
        where = ", ".join(f"items[{i}]" for i in list(by_item)[:5])
        super().__init__(
            f"the model (version {version}) was never trained on genre(s) {', '.join(genres)} "
            f"({where}); remove them or send strict_genres false to have them ignored"
        )


def require_model(holder: ModelHolder) -> Any:
    """The served model; ModelNotReadyError saying why there is none and what to run."""
    model = holder.current
    if model is None:
        reason = holder.not_ready_reason() or NO_MODEL_HINT
        if "imdbops pipeline run" not in reason:
            reason += "; run `imdbops pipeline run` first or fix the registry"
        raise ModelNotReadyError(reason)
    return model


def unseen_genres(model: Any) -> frozenset[str]:
    """IMDb genres ``model`` never saw in training; empty when its vocabulary is not known."""
    vocab = getattr(model, "vocabulary", None)
    return _NOTHING if vocab is None else vocab.unseen


def unknown_message(by_genre: dict[str, int]) -> str:
    parts = ", ".join(f"{g} ({n} item{'s' if n != 1 else ''})" for g, n in by_genre.items())
    return (
        f"OK; the model never saw these genres in training and ignored them: {parts}. "
        "See unknown_to_model in each prediction."
    )


@dataclass
class PredictionOutcome:
    predictions: list[dict[str, Any]]
    model_name: str
    version: str
    # genre -> number of items that carried it, for genres the model ignored.
    unknown: dict[str, int] = field(default_factory=dict)

    @property
    def message(self) -> str | None:
        return unknown_message(self.unknown) if self.unknown else None


def _explain_rows(model: Any, rows: list[dict[str, Any]]) -> tuple[list[float], list[dict]]:
    from imdbops.mlops.explain import ExplainUnsupportedError, explain
    from imdbops.mlops.transform import to_model_frame

    try:
        explanations = explain(model.model, to_model_frame(rows))
    except ExplainUnsupportedError as exc:
        raise ExplainUnavailableError(
            f"model version {model.version} cannot explain its predictions: {exc}; "
            "send explain false"
        ) from None
    return [e.probability for e in explanations], [e.to_dict() for e in explanations]


def batch_predict_fn(holder: ModelHolder):
    """The batcher's model call: rows -> (P(like) per row, version of the model used)."""
    from imdbops.mlops.transform import to_model_frame

    def predict(rows: list[dict[str, Any]]) -> tuple[list[float], str]:
        # One read of the reference: the whole batch is answered by the same model.
        loaded = holder.current
        if loaded is None:
            raise RuntimeError("no model is loaded")
        probs = loaded.model.predict_proba(to_model_frame(rows))[:, 1]
        return probs.tolist(), str(loaded.version)

    return predict


class PredictionService:
    """Score items with the served model, log them, count them."""

    def __init__(
        self,
        cfg: Config,
        holder: ModelHolder,
        batcher: MicroBatcher,
        prediction_log: PredictionLog,
        metrics: Any = None,
        shadow: Any = None,
        canary: Any = None,
    ):
        self.cfg = cfg
        self.holder = holder
        self.batcher = batcher
        self.prediction_log = prediction_log
        self.metrics = metrics
        # serving/shadow.py's ShadowScorer: hands a copy of the champion's records to the
        # shadow process, one non-blocking pipe write (None or disabled: nothing happens).
        self.shadow = shadow if shadow is not None and shadow.enabled else None
        # serving/canary.py's Canary: answers a sticky share of titles with another version.
        self.canary = canary if canary is not None and canary.enabled else None

    def require_model(self) -> Any:
        return require_model(self.holder)

    @staticmethod
    def unknown_by_item(items: Sequence[Item], unseen: frozenset[str]) -> dict[int, list]:
        """item index -> genres the model never saw; {} when all are known (set lookups)."""
        if not unseen:
            return {}
        return {
            i: [g for g in it.genres if g in unseen]
            for i, it in enumerate(items)
            if not unseen.isdisjoint(it.genres)
        }

    async def predict(
        self, items: Sequence[Item], *, strict: bool = False, explain: bool = False
    ) -> PredictionOutcome:
        """Predictions for ``items``; raises ModelNotReadyError, GenresUnknownToModelError or
        (with ``explain``) ExplainUnavailableError."""
        started = time.perf_counter()
        model = self.require_model()
        unknown = self.unknown_by_item(items, unseen_genres(model))
        if strict and unknown:
            raise GenresUnknownToModelError(str(model.version), unknown)
        # Every record field (the model frame reads its own; the log keeps them all).
        rows = [{name: getattr(it, name) for name in MOVIE_FIELD_NAMES} for it in items]
        explanations = None
        if explain:
            # Outside the batcher: the probability and its explanation come from one model.
            probs, explanations = await asyncio.to_thread(_explain_rows, model, rows)
            version = str(model.version)
        else:
            probs, version = await self.batcher.predict(rows)
        if version != str(model.version):
            # A reload swapped the model while this request waited: judge by the one that
            # answered.
            model = self.holder.current or model
            unknown = self.unknown_by_item(items, unseen_genres(model))
        canary: dict[int, float] = {}
        if self.canary is not None and not explain:
            picks = self.canary.picks(items)
            answered = await self.canary.score(rows, picks, version) if picks else None
            if answered is not None:
                canary = dict(zip(picks, answered[0], strict=True))
                canary_version = answered[1]
                probs = [canary.get(i, p) for i, p in enumerate(probs)]
        predictions = []
        likes = 0
        no_genres: list[str] = []
        for i, (row, p) in enumerate(zip(rows, probs, strict=True)):
            like = is_liked(p)
            likes += like
            predictions.append(
                {
                    "title": row["title"],
                    "label": "like" if like else "dislike",
                    "probability": p,
                    "model_version": version,
                    "unknown_to_model": unknown.get(i, no_genres),
                }
            )
            if explanations is not None:
                predictions[-1]["explanation"] = explanations[i]
            if i in canary:
                predictions[-1].update(model_version=canary_version, canary=True)
        if self.metrics is not None:
            self.metrics.count_predictions(likes, len(rows) - likes)
        if self.prediction_log.enabled:
            latency_ms = (time.perf_counter() - started) * 1000.0
            records = list(self.log_records(rows, probs, version, latency_ms))
            for i in canary:
                records[i].update(model_version=canary_version, role="canary")
            self.prediction_log.record(records)
            if self.shadow is not None:
                self.shadow.submit(records)
        by_genre: dict[str, int] = {}
        for genres in unknown.values():
            for g in genres:
                by_genre[g] = by_genre.get(g, 0) + 1
        return PredictionOutcome(predictions, model.name, version, by_genre)

    @staticmethod
    def log_records(
        rows: list[dict[str, Any]], probs: Sequence[float], version: str, latency_ms: float
    ):
        """The prediction-log records of one request: ``rows`` hold the movie-record fields
        (``log_parts.LOG_COLUMNS`` says how each is stored)."""
        request_id = uuid.uuid4().hex
        now = clock.time()  # the prediction-log day: the product's clock
        return (
            {
                "ts": now,
                "request_id": request_id,
                **row,
                "genres": ",".join(row["genres"]),
                "probability": p,
                "label": int(is_liked(p)),
                "model_version": version,
                "latency_ms": latency_ms,
            }
            for row, p in zip(rows, probs, strict=True)
        )
