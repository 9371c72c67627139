"""Per-minute aggregates for the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from support.prediction_log import write_prediction_log

from imdbops.monitoring.traffic import traffic_summary

NOW = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "title": ["m"] * n,
            "genres": ["Drama"] * n,
            "year": [2000.0] * n,
            "runtime_minutes": [90.0] * n,
        }
    )


def test_counts_latency_and_like_rate_per_minute(cfg):
    log_dir = cfg.monitoring.prediction_log_dir
    # Two minutes: 60 rows each, one per second; like-rate 1.0 in the first minute, 0.25 next.
    proba = np.r_[np.full(60, 0.9), np.tile([0.9, 0.1, 0.1, 0.1], 15)]
    write_prediction_log(log_dir, _rows(120), proba, end=NOW - timedelta(seconds=31), spacing_s=1.0)
    write_prediction_log(  # outside the window: never counted
        log_dir, _rows(10), np.full(10, 0.9), end=NOW - timedelta(hours=3)
    )
    summary = traffic_summary(cfg, minutes=10, now=NOW)
    assert summary["total"] == 120
    assert [s["count"] for s in summary["series"]] == [60, 60]
    assert [s["like_rate"] for s in summary["series"]] == pytest.approx([1.0, 0.25])
    assert summary["like_rate"] == pytest.approx(0.625)
    assert 0 < summary["p50_latency_ms"] <= summary["p99_latency_ms"]
    assert summary["model_versions"] == {"1": 120}
    assert summary["problems"] == []


def test_empty_log_gives_an_empty_summary(cfg):
    summary = traffic_summary(cfg, minutes=5)
    assert summary["total"] == 0 and summary["series"] == []


def test_corrupted_file_is_skipped_and_reported(cfg):
    paths = write_prediction_log(
        cfg.monitoring.prediction_log_dir, _rows(20), np.full(20, 0.9), end=NOW, rows_per_file=10
    )
    paths[0].write_bytes(b"garbage")
    summary = traffic_summary(cfg, minutes=5, now=NOW)
    assert summary["total"] == 10
    assert str(paths[0]) in summary["problems"][0]
