"""The monitoring page (``/monitoring``) and its JSON endpoints, mounted by the serving app."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from imdbops.config import Config, load_config
from imdbops.monitoring.drift_metrics import read_latest_summary

router = APIRouter(tags=["monitoring"])


def _config(request: Request) -> Config:
    # The serving app keeps its Config on app.state; a bare app (tests) falls back to loading.
    for name in ("config", "cfg"):
        cfg = getattr(request.app.state, name, None)
        if isinstance(cfg, Config):
            return cfg
    cfg = load_config()
    request.app.state.config = cfg
    return cfg


@router.get("/api/v1/monitoring/summary")
def monitoring_summary(request: Request, minutes: int = 60) -> dict[str, Any]:
    cfg = _config(request)
    return {"drift": read_latest_summary(cfg), "traffic": None, "window_minutes": minutes}


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_page() -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>imdbops monitoring</title><h1>Monitoring</h1>")
