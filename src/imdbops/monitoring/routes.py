"""The monitoring page (``/monitoring``) and its JSON endpoints, mounted by the serving app.

- ``GET /monitoring``: the page (plain HTML/CSS/JS, charts drawn as inline SVG, no CDN).
- ``GET /monitoring/static/*``: its script and stylesheet.
- ``build_summary``: traffic aggregates + the latest drift result + the latest
  delayed-ground-truth report (``performance``, with calibration), which the JSON API serves
  as ``GET /api/v1/monitoring/summary?minutes=60`` (in ``serving.api``, in its envelope).
- ``GET /monitoring/report`` and ``/monitoring/reports/{run_id}``: Evidently's HTML reports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from imdbops.config import Config
from imdbops.monitoring.drift_metrics import RUN_REPORT, read_latest_summary

router = APIRouter(tags=["monitoring"])
STATIC_DIR = Path(__file__).parent / "static"
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")
_ASSETS = {"monitoring.js": "text/javascript", "monitoring.css": "text/css"}


async def app_config(request: Request) -> Config:
    """The app's one config source, ``app.state.config`` (``create_app`` sets it)."""
    cfg = getattr(request.app.state, "config", None)
    if not isinstance(cfg, Config):
        raise RuntimeError("app.state.config is not set; build the app with create_app(cfg)")
    return cfg


AppConfig = Annotated[Config, Depends(app_config)]


def build_summary(cfg: Config, minutes: int) -> dict[str, Any]:
    from imdbops.monitoring.traffic import traffic_summary

    drift = read_latest_summary(cfg)
    if drift is not None:
        drift = {**drift, "report_url": f"/monitoring/reports/{drift.get('run_id')}"}
    from imdbops.monitoring.performance import read_latest

    return {
        "traffic": traffic_summary(cfg, minutes),
        "drift": drift,
        "performance": read_latest(cfg),
    }


@router.get("/monitoring", response_class=HTMLResponse, include_in_schema=False)
async def monitoring_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "monitoring.html", media_type="text/html")


@router.get("/monitoring/static/{name}", include_in_schema=False)
async def monitoring_asset(name: str) -> FileResponse:
    if name not in _ASSETS:
        raise HTTPException(404, f"no monitoring asset {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=_ASSETS[name])


def _report_file(cfg: Config, run_id: str) -> Path:
    if not _RUN_ID.match(run_id):
        raise HTTPException(404, f"{run_id!r} is not a drift run id (e.g. 20260101T120000Z)")
    path = cfg.monitoring.reports_dir / run_id / RUN_REPORT
    if not path.is_file():
        raise HTTPException(404, f"no drift report for run {run_id}; run `imdbops monitor run`")
    return path


@router.get("/monitoring/report", include_in_schema=False)
async def latest_report(cfg: AppConfig) -> FileResponse:
    latest = read_latest_summary(cfg)
    if latest is None:
        raise HTTPException(404, "no drift report yet; run `imdbops monitor run`")
    return FileResponse(_report_file(cfg, str(latest.get("run_id"))), media_type="text/html")


@router.get("/monitoring/reports/{run_id}", include_in_schema=False)
async def report_by_id(cfg: AppConfig, run_id: str) -> FileResponse:
    return FileResponse(_report_file(cfg, run_id), media_type="text/html")
