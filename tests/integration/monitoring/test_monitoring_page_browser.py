"""The /monitoring page in a real Chromium: charts drawn from the log, the drift verdict shown."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from playwright.sync_api import sync_playwright
from support.browser import launch_chromium
from support.prediction_log import write_prediction_log
from support.serving import ServerThread

from imdbops.monitoring.drift import run_drift_job
from imdbops.monitoring.routes import router


@pytest.mark.browser
def test_monitoring_page_shows_charts_and_the_drift_result(cfg, streams, free_port, tmp_path):
    # Ten minutes of drifted traffic ending now, then a real drift run over it.
    write_prediction_log(
        cfg.monitoring.prediction_log_dir,
        streams.drifted,
        streams.drifted_proba,
        spacing_s=0.3,
        rows_per_file=200,
    )
    run = run_drift_job(cfg, reference_path=streams.profile_path, predictions=2000)
    assert run.summary["drift_detected"]

    app = FastAPI()
    app.state.config = cfg
    app.include_router(router)
    server = ServerThread(app, port=free_port).start()
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/monitoring")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            assert page.locator("#card-total").inner_text() == "2000"
            # Requests chart: one bar per minute; latency and like-rate as lines.
            bars = page.locator("#chart-requests svg rect.bar").count()
            assert 10 <= bars <= 12
            assert page.locator("#chart-latency svg polyline.line-p99").count() == 1
            assert page.locator("#chart-likes svg polyline.line-like").count() == 1
            assert page.locator("#drift-status").inner_text() == "DRIFT"
            assert "drift share" in page.locator("#drift-text").inner_text()
            assert page.locator("#drift-features svg rect.feat-bar.drifted").count() >= 7
            page.screenshot(path=str(tmp_path / "monitoring.png"), full_page=True)
            # The linked report is served and is Evidently's HTML.
            href = page.locator("#drift-report").get_attribute("href")
            response = page.request.get(f"{server.url}{href}")
            assert response.ok and "runtime_minutes" in response.text()
            assert errors == []
            browser.close()
    finally:
        server.stop()
    assert (tmp_path / "monitoring.png").stat().st_size > 10_000
