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


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "imdbops_drift_share", "Share of monitored features that drifted in the latest run"
        ),
        GaugeMetricFamily(
            "imdbops_drift_detected", "1 when the latest drift share exceeded the threshold"
        ),
        GaugeMetricFamily(
            "imdbops_feature_drift_score",
            "Per-feature drift score of the latest run (method in the HTML report)",
            labels=["feature"],
        ),
    )


class DriftCollector(Collector):
    """A custom collector: ``registry.register(DriftCollector(cfg))``."""

    def __init__(self, cfg: Config):
        self._cfg = cfg

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Lets the registry check names without reading the summary file.
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        summary = read_latest_summary(self._cfg)
        share, detected, per_feature = _families()
        if summary is not None and isinstance(summary.get("drift_share"), int | float):
            share.add_metric([], float(summary["drift_share"]))
            detected.add_metric([], 1.0 if summary.get("drift_detected") else 0.0)
            for name, info in sorted((summary.get("features") or {}).items()):
                score = info.get("score") if isinstance(info, dict) else None
                if isinstance(score, int | float):
                    per_feature.add_metric([str(name)], float(score))
        yield share
        yield detected
        yield per_feature


def render_textfile(summary: dict[str, Any]) -> str:
    """The same gauges in Prometheus text format, for node-exporter's textfile collector."""
    from prometheus_client import CollectorRegistry, generate_latest

    class _Fixed(DriftCollector):
        def __init__(self) -> None:
            pass

        def collect(self) -> Iterator[GaugeMetricFamily]:
            share, detected, per_feature = _families()
            share.add_metric([], float(summary.get("drift_share") or 0.0))
            detected.add_metric([], 1.0 if summary.get("drift_detected") else 0.0)
            for name, info in sorted((summary.get("features") or {}).items()):
                if isinstance(info, dict) and isinstance(info.get("score"), int | float):
                    per_feature.add_metric([str(name)], float(info["score"]))
            yield from (share, detected, per_feature)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())
    return generate_latest(registry).decode()
