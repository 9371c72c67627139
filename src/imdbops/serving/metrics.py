"""Prometheus metrics of one app, on its own CollectorRegistry (several apps can share a
process, e.g. in tests, without clashing)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imdbops.config import Config
from imdbops.log import get_logger

log = get_logger("serving.metrics")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingMetrics:
    def __init__(self, cfg: Config | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "imdbops_http_requests",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "imdbops_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "imdbops_predictions", "Predictions served by label", ["label"], registry=r
        )
        self.batch_rows = Histogram(
            "imdbops_model_batch_rows",
            "Rows per model call (micro-batching)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "imdbops_model_batch_duration_seconds",
            "Duration of one model call",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "imdbops_model_info", "The served model (value 1)", ["name", "version"], registry=r
        )
        self.model_loaded = Gauge("imdbops_model_loaded", "1 when a model is served", registry=r)
        self.reload_failures = Counter(
            "imdbops_model_reload_failures", "Failed attempts to load a champion", registry=r
        )
        self.prediction_log_records = Gauge(
            "imdbops_prediction_log_records_written",
            "Records written to the prediction log",
            registry=r,
        )
        if cfg is not None:
            self._register_drift(cfg)

    def _register_drift(self, cfg: Config) -> None:
        try:
            from imdbops.monitoring.drift_metrics import DriftCollector
        except ImportError:
            return
        from imdbops.monitoring.performance_metrics import PerformanceCollector

        try:
            self.registry.register(DriftCollector(cfg))
            self.registry.register(PerformanceCollector(cfg))
        except Exception as exc:  # noqa: BLE001 - drift gauges are optional for serving
            log.warning("drift metrics are unavailable: %s", exc)

    def set_model(self, name: str | None, version: str | None) -> None:
        self.model_info.clear()
        if name is not None and version is not None:
            self.model_info.labels(name=name, version=version).set(1)
            self.model_loaded.set(1)
        else:
            self.model_loaded.set(0)

    def count_predictions(self, likes: int, dislikes: int) -> None:
        if likes:
            self.predictions.labels(label="like").inc(likes)
        if dislikes:
            self.predictions.labels(label="dislike").inc(dislikes)

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.batch_seconds.observe(seconds)


class MetricsMiddleware:
    """Counts requests and their latency by route template (never by raw path: bounded labels)."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = _route_label(scope)
            self.metrics.requests.labels(
                route=path, method=scope["method"], status=str(status)
            ).inc()
            self.metrics.latency.labels(route=path).observe(time.perf_counter() - started)


def _route_label(scope: Scope) -> str:
    """The route template (``/api/v1/args/{arg}``), so label cardinality stays bounded."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return "static" if scope["path"].startswith("/static/") else "unmatched"
    # Routes of an included router report their path without the router's prefix.
    prefix = "/api/v1"
    if scope["path"].startswith(prefix) and not template.startswith(prefix):
        template = prefix + template
    return template
