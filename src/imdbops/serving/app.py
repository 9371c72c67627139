"""The serving app: ``create_app(cfg)`` builds the API, the web page and ``/metrics``.

Paths: ``/`` web page, ``/static/*`` its assets, ``/api/v1/*`` the JSON API (``/api/v1/``
is the JSON health, ``/api/v1/ready`` readiness), ``/healthz`` liveness, ``/metrics``
Prometheus, ``/monitoring`` the monitoring page, ``/api/v1/docs`` OpenAPI docs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.monitoring.prediction_log import PredictionLog
from imdbops.serving.api import router as api_router
from imdbops.serving.batching import MicroBatcher
from imdbops.serving.canary import Canary
from imdbops.serving.deps import ServingState
from imdbops.serving.envelope import APIError, envelope
from imdbops.serving.limits import BodySizeLimit
from imdbops.serving.metrics import MetricsMiddleware, ServingMetrics
from imdbops.serving.predictor import ModelHolder
from imdbops.serving.schemas import PredictRequest
from imdbops.serving.service import PredictionService, batch_predict_fn
from imdbops.serving.shadow import ShadowCollector, ShadowScorer
from imdbops.serving.shadow_models import ModelSet

log = get_logger("serving.app")

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).parent / "static"


async def _poll_forever(state: ServingState) -> None:
    interval = max(0.1, float(state.cfg.serving.reload_poll_s))
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(state.holder.poll)
        except Exception:  # noqa: BLE001 - one bad poll must not end polling for good
            log.exception("polling the champion alias failed; polling again in %ss", interval)
        canary = state.service.canary
        if canary is not None:  # ModelSet.poll never raises
            await asyncio.to_thread(canary.models.poll)
        state.sync_metrics()


def create_app(
    cfg: Config,
    *,
    holder: ModelHolder | None = None,
    load_on_startup: bool = True,
    shadow_factory: str | None = None,
    canary_models: ModelSet | None = None,
) -> FastAPI:
    """The ASGI app. ``holder`` and ``canary_models`` let callers supply their own models;
    ``shadow_factory`` ("module:function", called with the config in the shadow process)
    its ``ModelSet``."""
    holder = holder or ModelHolder(cfg)
    metrics = ServingMetrics(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        plog = PredictionLog(cfg)
        batcher = MicroBatcher(
            batch_predict_fn(holder),
            max_size=cfg.serving.batch_max_size,
            max_wait_ms=cfg.serving.batch_max_wait_ms,
            on_batch=metrics.observe_batch,
        )
        canary = Canary(cfg, canary_models)
        # The shadow versions are scored in their own process (serving/shadow.py).
        shadow = ShadowScorer(cfg, shadow_factory)
        service = PredictionService(cfg, holder, batcher, plog, metrics, shadow, canary)
        state = ServingState(cfg, service, metrics)
        app.state.serving = state
        if load_on_startup and holder.current is None:
            await asyncio.to_thread(holder.load)
        if canary.enabled:
            await asyncio.to_thread(canary.models.poll)
        await asyncio.to_thread(shadow.start)
        metrics.registry.register(ShadowCollector(shadow))
        state.sync_metrics()
        batcher.start()
        poller = asyncio.create_task(_poll_forever(state), name="champion-poller")
        log.info("serving model version %s", holder.version or "(none yet)")
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await batcher.stop()
            await asyncio.to_thread(shadow.close)
            await asyncio.to_thread(plog.close)
            log.info("prediction log closed: %s", plog.stats())

    from imdbops.monitoring.shadow_verdict_metrics import ShadowVerdictCollector

    metrics.registry.register(ShadowVerdictCollector(cfg))
    app = FastAPI(
        title="imdbops",
        description="Will audiences like this movie? Predictions from the champion model.",
        version="1",
        lifespan=lifespan,
        docs_url=f"{API_PREFIX}/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
    )
    app.state.metrics = metrics
    app.state.config = cfg  # the app's one config source (see serving/deps.py)
    app.include_router(api_router, prefix=API_PREFIX)
    _install_error_handlers(app)
    _install_openapi(app)

    from imdbops.monitoring.routes import router as monitoring_router

    app.include_router(monitoring_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request):
        return envelope(request, {"status": "ok"})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        state = getattr(request.app.state, "serving", None)
        if state is not None:
            state.sync_metrics()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Outermost first: the size limit rejects before anything parses; metrics see every answer.
    app.add_middleware(BodySizeLimit, max_bytes=cfg.serving.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError):
        return envelope(
            request, exc.data, status=exc.status, message=exc.message, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such endpoint {request.url.path}; see {API_PREFIX}/docs"
        elif exc.status_code == 405:
            message = (
                f"{request.method} is not allowed on {request.url.path}; see {API_PREFIX}/docs"
            )
        return envelope(request, None, status=exc.status_code, message=message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        # Query and path parameters (the predict body is parsed by its route): the same
        # {item, field, problem, fix} details as a refused body.
        details = [
            {
                "item": None,
                "field": ".".join(str(p) for p in err.get("loc", ())),
                "problem": str(err.get("msg", "invalid")),
                "fix": "correct the value (see the OpenAPI document)",
            }
            for err in exc.errors()
        ]
        parts = [f"{d['field']}: {d['problem']}" for d in details]
        return envelope(
            request, {"errors": details}, status=422, message="invalid request: " + "; ".join(parts)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(
            request, None, status=500, message="internal error; the server log has the details"
        )


def _install_openapi(app: FastAPI) -> None:
    """Add the predict body schema (the route parses the body itself, for speed), with this
    server's own item limit."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema = PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components.update(schema.pop("$defs", {}))
        schema["properties"]["items"]["maxItems"] = min(
            int(schema["properties"]["items"]["maxItems"]), int(app.state.config.serving.max_items)
        )
        components["PredictRequest"] = schema
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


def app_from_env() -> FastAPI:
    """Factory for uvicorn worker processes: config from ``IMDBOPS_*`` env / config file."""
    from imdbops.config import load_config
    from imdbops.log import setup_logging

    cfg = load_config()
    setup_logging(cfg.paths.logs_dir, "serve")
    return create_app(cfg)
