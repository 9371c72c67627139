"""A flood of genres the model never saw is a drift verdict of its own.

Real parts end to end: the champion in a real MLflow store, a real uvicorn server taking
the traffic, the real prediction log, `imdbops monitor run` (DuckDB + Evidently), the
Prometheus scrape and the /monitoring page in Debian's Chromium.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.ci_guard import skip_unless_ci
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.genres import normalize_genres
from imdbops.monitoring.drift_metrics import read_latest_summary

runner = CliRunner()


def _traffic(frame, horror_every: int = 5, horror_of: int = 2) -> list[dict]:
    """Held-out movies as API items; 2 in every 5 also carry Horror (40%)."""
    items = []
    for i, row in enumerate(frame.itertuples(index=False)):
        genres = [g for g in str(row.genres).split(",") if g]
        if i % horror_every < horror_of:
            genres = normalize_genres([*genres, "Horror"])
        item = {"title": str(row.title), "genres": genres}
        if row.year == row.year:
            item["year"] = int(row.year)
        if row.runtime_minutes == row.runtime_minutes:
            item["runtime_minutes"] = float(row.runtime_minutes)
        items.append(item)
    return items


@pytest.mark.slow
def test_forty_percent_horror_traffic_is_drift_with_the_unknown_genres_reason(
    cfg, streams, tmp_path
):
    from support.serving import ServerThread

    from imdbops.mlops.registry import log_model_version, set_alias
    from imdbops.serving.app import create_app

    info = log_model_version(
        cfg,
        streams.model,
        metrics={"test_roc_auc": 0.7},
        params={"model": "logreg"},
        tags={"data_md5": "0" * 32, "git_commit": "test", "trained_at": "2026-01-01T00:00:00Z"},
        artifacts={"reference_profile.json": streams.profile_path},
    )
    set_alias(cfg, info.version, "champion")
    items = _traffic(streams.heldout.iloc[:500])
    serving_app = create_app(cfg)
    server = ServerThread(serving_app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            unknown = 0
            for start in range(0, len(items), 25):
                body = client.post("/api/v1/predict", json={"items": items[start : start + 25]})
                assert body.status_code == 200, body.text
                unknown += sum(
                    p["unknown_to_model"] == ["Horror"] for p in body.json()["data"]["predictions"]
                )
            assert unknown == 200
            serving_app.state.serving.prediction_log.flush()

            result = runner.invoke(app, ["monitor", "run"], catch_exceptions=False)
            assert result.exit_code == 3, result.output
            summary = read_latest_summary(cfg)
            assert summary["window"]["n_predictions"] == 500
            # Horror is invisible to the per-feature tests (a constant column in training) ...
            assert summary["drift_share"] < cfg.monitoring.drift_threshold
            assert "genre_horror" not in summary["features"]
            # ... and is its own reason.
            assert [r["reason"] for r in summary["reasons"]] == ["unknown_genres"]
            assert "Horror 40%" in summary["reasons"][0]["message"]
            check = summary["unknown_genres"]
            assert check["share_any"] == pytest.approx(0.4)
            assert check["per_genre"] == {"Horror": pytest.approx(0.4)}
            assert check["threshold"] == cfg.monitoring.unknown_genre_threshold
            assert "Horror" not in check["known_genres"] and "Drama" in check["known_genres"]

            scrape = client.get("/metrics").text
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(scrape)
                for s in family.samples
            }
            assert samples[("imdbops_drift_detected", ())] == 1.0
            assert samples[("imdbops_drift_reason", (("reason", "unknown_genres"),))] == 1.0
            assert samples[("imdbops_drift_reason", (("reason", "feature_drift"),))] == 0.0
            assert samples[("imdbops_unknown_genre_share", ())] == pytest.approx(0.4)
            by_genre = ("imdbops_unknown_genre_share_by_genre", (("genre", "Horror"),))
            assert samples[by_genre] == pytest.approx(0.4)

            api = client.get("/api/v1/monitoring/summary").json()["data"]
            assert api["drift"]["reasons"][0]["reason"] == "unknown_genres"
            _page_shows_the_reason(server.url, tmp_path)
    finally:
        server.stop()


def _page_shows_the_reason(url: str, tmp_path: Path) -> None:
    from support.browser import CHROMIUM, launch_chromium

    if not CHROMIUM.exists():
        skip_unless_ci("Debian's chromium is not installed here (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(f"{url}/monitoring")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            expect(page.locator("#drift-status")).to_have_text("DRIFT")
            reason = page.locator('#drift-reasons li[data-reason="unknown_genres"]')
            expect(reason).to_contain_text("Horror 40%")
            expect(page.locator("#drift-unknown-genres")).to_contain_text("Horror 40.0%")
            page.screenshot(path=str(tmp_path / "monitoring-unknown-genres.png"), full_page=True)
        finally:
            browser.close()
