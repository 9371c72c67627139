"""Prometheus gauges for the latest delayed-ground-truth report (``monitor performance``).

Like :class:`~imdbops.monitoring.drift_metrics.DriftCollector`, a scrape reads the newest
report file, so the job that writes it shares no state with the serving process.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from imdbops.config import Config


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "imdbops_performance_drop_detected",
            "1 when a model version's observed ROC-AUC fell beyond monitoring.performance_drop",
        ),
        GaugeMetricFamily(
            "imdbops_performance_rows_matched",
            "Stored predictions whose title has a rating now",
            labels=["model_version"],
        ),
        GaugeMetricFamily(
            "imdbops_performance_roc_auc",
            "ROC-AUC of stored predictions against the ratings that arrived later",
            labels=["model_version"],
        ),
        GaugeMetricFamily(
            "imdbops_performance_drop",
            "Test metric at registration minus the observed one (ROC-AUC, else accuracy)",
            labels=["model_version"],
        ),
    )


class PerformanceCollector(Collector):
    """``registry.register(PerformanceCollector(cfg))``."""

    def __init__(self, cfg: Config):
        self._cfg = cfg

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from imdbops.monitoring.performance import read_latest

        detected, rows, auc, drop = _families()
        report = read_latest(self._cfg)
        if report is not None:
            detected.add_metric([], 1.0 if report.get("verdict") == "performance_drop" else 0.0)
            for v in report.get("versions") or []:
                if not isinstance(v, dict):
                    continue
                label = [str(v.get("model_version"))]
                rows.add_metric(label, float(v.get("rows") or 0))
                value = (v.get("metrics") or {}).get("roc_auc")
                if isinstance(value, int | float):
                    auc.add_metric(label, float(value))
                if isinstance(v.get("drop"), int | float):
                    drop.add_metric(label, float(v["drop"]))
        yield from (detected, rows, auc, drop)
