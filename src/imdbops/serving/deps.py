"""What the serving routes depend on, typed, through FastAPI's ``Depends``.

The app's one config source is ``app.state.config`` (set by ``create_app``); the serving
state (``app.state.serving``) exists while the app's lifespan runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from imdbops.config import Config
from imdbops.monitoring.prediction_log import PredictionLog
from imdbops.monitoring.routes import app_config
from imdbops.serving.metrics import ServingMetrics
from imdbops.serving.predictor import ModelHolder
from imdbops.serving.service import PredictionService


@dataclass
class ServingState:
    cfg: Config
    service: PredictionService
    metrics: ServingMetrics
    failures_reported: int = 0

    @property
    def holder(self) -> ModelHolder:
        return self.service.holder

    @property
    def prediction_log(self) -> PredictionLog:
        return self.service.prediction_log

    def sync_metrics(self) -> None:
        model = self.holder.current
        self.metrics.set_model(
            getattr(model, "name", None), None if model is None else str(model.version)
        )
        failures = self.holder.reload_failures
        if failures > self.failures_reported:
            self.metrics.reload_failures.inc(failures - self.failures_reported)
            self.failures_reported = failures
        self.metrics.prediction_log_records.set(self.prediction_log.records_written)


# Async on purpose: FastAPI runs sync dependencies in a thread pool, a cost on every request.
async def serving_state(request: Request) -> ServingState:
    return request.app.state.serving


async def model_holder(request: Request) -> ModelHolder:
    return request.app.state.serving.service.holder


State = Annotated[ServingState, Depends(serving_state)]
Holder = Annotated[ModelHolder, Depends(model_holder)]
AppConfig = Annotated[Config, Depends(app_config)]
