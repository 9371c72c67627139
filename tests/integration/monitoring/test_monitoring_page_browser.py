"""The /monitoring page in a real Chromium: charts drawn from the log, the drift verdict shown."""

from __future__ import annotations

import pytest
from support.browser import monitoring_page
from support.prediction_log import write_prediction_log

from imdbops.monitoring.drift import run_drift_job


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

    with monitoring_page(cfg, free_port) as (page, url, errors):
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
        response = page.request.get(f"{url}{href}")
        assert response.ok and "runtime_minutes" in response.text()
        assert errors == []
    assert (tmp_path / "monitoring.png").stat().st_size > 10_000
