"""/monitoring in a real Chromium shows the delayed-ground-truth verdict and its calibration."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from support.browser import monitoring_page

from imdbops.monitoring.performance import evaluate, save


@pytest.mark.browser
def test_monitoring_page_shows_performance_and_calibration(cfg, free_port):
    rng = np.random.default_rng(3)
    proba = rng.uniform(0, 1, 400)
    ratings = np.where(rng.uniform(0, 1, 400) < 0.5, 8.0, 3.0)  # unrelated to proba: no skill
    matched = pd.DataFrame(
        {
            "source": "batch",
            "tconst": [f"tt{i:07d}" for i in range(400)],
            "probability": proba,
            "model_version": "4",
            "scored_at": pd.Timestamp(datetime(2026, 3, 5)),
            "averageRating": ratings,
        }
    )
    body = evaluate(matched, cfg, {"4": {"roc_auc": 0.8, "accuracy": 0.75, "brier": 0.18}})
    report = {"run_id": "20260401T000000Z", "created_at": "2026-04-01T00:00:00+00:00",
              "performance_drop": 0.05, "min_rows": 50, **body}  # fmt: skip
    save(cfg, report)
    assert report["verdict"] == "performance_drop"
    filled = sum(1 for b in report["versions"][0]["calibration"] if b["rows"])

    with monitoring_page(cfg, free_port) as (page, _, errors):
        assert page.locator("#perf-status").inner_text() == "performance drop"
        text = page.locator("#perf-text").inner_text()
        assert "400 stored predictions have a rating now" in text and "v4: 400 rated" in text
        assert page.locator("#perf-calibration svg circle.calib").count() == filled
        assert page.locator("#perf-calibration svg polyline.calib").count() == 1
        assert errors == []
