"""Prometheus gauges for the latest drift result, read from ``<reports_dir>/latest.json``.

The drift job runs out of process (CLI / cron / CI); the serving app exposes its result by
registering :class:`DriftCollector` on its registry, so a scrape always shows the newest
summary without any shared state between the two processes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from imdbops.config import Config

LATEST_FILENAME = "latest.json"
# Each drift run's folder, ``<reports_dir>/<run_id>/``: the drift job writes these, the
# monitoring routes serve the report.
RUN_REPORT = "report.html"  # the Evidently report
RUN_SUMMARY = "summary.json"  # the run's summary (latest.json is a copy of the newest)


def latest_summary_path(cfg: Config) -> Path:
    return cfg.monitoring.reports_dir / LATEST_FILENAME


def read_latest_summary(cfg: Config) -> dict[str, Any] | None:
    """The newest drift summary, or None when no drift run has finished yet.

    The summary is written atomically, so a half-written file is never seen; anything that
    still fails to parse is treated as "no result" rather than breaking a metrics scrape.
    """
    try:
        data = json.loads(latest_summary_path(cfg).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    return data if isinstance(data, dict) else None


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "imdbops_drift_share", "Share of monitored features that drifted in the latest run"
        ),
        GaugeMetricFamily(
            "imdbops_drift_detected", "1 when the latest drift run found drift (any reason)"
        ),
        GaugeMetricFamily(
            "imdbops_feature_drift_score",
            "Per-feature drift score of the latest run (method in the HTML report)",
            labels=["feature"],
        ),
        GaugeMetricFamily(
            "imdbops_drift_reason",
            "1 for each reason the latest run reported drift (feature_drift, unknown_genres)",
            labels=["reason"],
        ),
        GaugeMetricFamily(
            "imdbops_unknown_genre_share",
            "Share of the latest window's predictions with a genre the model never saw",
        ),
        GaugeMetricFamily(
            "imdbops_unknown_genre_share_by_genre",
            "Share of the latest window's predictions carrying each genre the model never saw",
            labels=["genre"],
        ),
    )


def _filled(summary: dict[str, Any] | None) -> tuple[GaugeMetricFamily, ...]:
    families = _families()
    share, detected, per_feature, reason, unknown_any, unknown_by_genre = families
    if summary is None or not isinstance(summary.get("drift_share"), int | float):
        return families
    share.add_metric([], float(summary["drift_share"]))
    detected.add_metric([], 1.0 if summary.get("drift_detected") else 0.0)
    for name, info in sorted((summary.get("features") or {}).items()):
        score = info.get("score") if isinstance(info, dict) else None
        if isinstance(score, int | float):
            per_feature.add_metric([str(name)], float(score))
    if isinstance(summary.get("reasons"), list):  # summaries before reasons existed: none
        active = {str(r.get("reason")) for r in summary["reasons"] if isinstance(r, dict)}
        for name in ("feature_drift", "unknown_genres"):
            reason.add_metric([name], 1.0 if name in active else 0.0)
    unknown = summary.get("unknown_genres")
    if isinstance(unknown, dict) and isinstance(unknown.get("share_any"), int | float):
        unknown_any.add_metric([], float(unknown["share_any"]))
        for genre, value in sorted((unknown.get("per_genre") or {}).items()):
            if isinstance(value, int | float):
                unknown_by_genre.add_metric([str(genre)], float(value))
    return families


class DriftCollector(Collector):
    """A custom collector: ``registry.register(DriftCollector(cfg))``."""

    def __init__(self, cfg: Config):
        self._cfg = cfg

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Lets the registry check names without reading the summary file.
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from _filled(read_latest_summary(self._cfg))


def render_textfile(summary: dict[str, Any]) -> str:
    """The same gauges in Prometheus text format, for node-exporter's textfile collector."""
    from prometheus_client import CollectorRegistry, generate_latest

    class _Fixed(DriftCollector):
        def __init__(self) -> None:
            pass

        def collect(self) -> Iterator[GaugeMetricFamily]:
            yield from _filled({**summary, "drift_share": float(summary.get("drift_share") or 0.0)})

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())
    return generate_latest(registry).decode()
