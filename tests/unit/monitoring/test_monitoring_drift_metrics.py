"""Prometheus gauges from the latest drift summary."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from imdbops.atomic import atomic_write_json
from imdbops.monitoring.drift_metrics import DriftCollector, latest_summary_path, render_textfile

SUMMARY = {
    "run_id": "20260301T120000Z",
    "drift_share": 0.75,
    "drift_detected": True,
    "features": {
        "runtime_minutes": {"score": 1.3, "drifted": True},
        "genre_sci_fi": {"score": 0.02, "drifted": False},
    },
}


def _samples(cfg) -> list[str]:
    registry = CollectorRegistry()
    registry.register(DriftCollector(cfg))
    text = generate_latest(registry).decode()
    assert "# TYPE imdbops_drift_share gauge" in text
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_no_summary_yet_exposes_no_samples(cfg):
    assert _samples(cfg) == []


def test_gauges_follow_the_latest_summary(cfg):
    atomic_write_json(latest_summary_path(cfg), SUMMARY)
    registry = CollectorRegistry()
    registry.register(DriftCollector(cfg))
    assert registry.get_sample_value("imdbops_drift_share") == 0.75
    assert registry.get_sample_value("imdbops_drift_detected") == 1.0
    assert (
        registry.get_sample_value("imdbops_feature_drift_score", {"feature": "runtime_minutes"})
        == 1.3
    )
    # A newer run replaces the values on the next scrape.
    atomic_write_json(
        latest_summary_path(cfg), {**SUMMARY, "drift_share": 0.1, "drift_detected": False}
    )
    assert registry.get_sample_value("imdbops_drift_share") == 0.1
    assert registry.get_sample_value("imdbops_drift_detected") == 0.0


def test_unreadable_summary_does_not_break_a_scrape(cfg):
    latest_summary_path(cfg).parent.mkdir(parents=True, exist_ok=True)
    latest_summary_path(cfg).write_text("{truncated")
    assert _samples(cfg) == []


def test_textfile_has_the_same_gauges():
    text = render_textfile(SUMMARY)
    assert "imdbops_drift_share 0.75" in text
    assert 'imdbops_feature_drift_score{feature="genre_sci_fi"} 0.02' in text


def test_unknown_genre_shares_and_reasons_are_exported(cfg):
    summary = {
        **SUMMARY,
        "drift_share": 0.1,
        "reasons": [{"reason": "unknown_genres", "message": "40% ..."}],
        "unknown_genres": {"share_any": 0.4, "per_genre": {"Horror": 0.4, "Sci-Fi": 0.05}},
    }
    atomic_write_json(latest_summary_path(cfg), summary)
    registry = CollectorRegistry()
    registry.register(DriftCollector(cfg))
    assert registry.get_sample_value("imdbops_unknown_genre_share") == 0.4
    by_genre = "imdbops_unknown_genre_share_by_genre"
    assert registry.get_sample_value(by_genre, {"genre": "Horror"}) == 0.4
    assert registry.get_sample_value(by_genre, {"genre": "Sci-Fi"}) == 0.05
    reason = "imdbops_drift_reason"
    assert registry.get_sample_value(reason, {"reason": "unknown_genres"}) == 1.0
    assert registry.get_sample_value(reason, {"reason": "feature_drift"}) == 0.0
    text = render_textfile(summary)
    assert 'imdbops_drift_reason{reason="unknown_genres"} 1.0' in text
    assert 'imdbops_unknown_genre_share_by_genre{genre="Horror"} 0.4' in text
