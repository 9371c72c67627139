"""Prometheus gauges of the latest shadow verdict (``monitoring/shadow_verdict.py``).

Like :class:`~imdbops.monitoring.performance_metrics.PerformanceCollector`, a scrape reads the
newest verdict file, so the job that writes it shares no state with the serving process.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from imdbops.config import Config

_PAIR = ["shadow_version", "champion_version"]


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "imdbops_shadow_labelled_titles",
            "Titles both the champion and the shadow version scored, rated since",
            labels=_PAIR,
        ),
        GaugeMetricFamily(
            "imdbops_shadow_metric",
            "Champion's and shadow's metric on those titles",
            labels=[*_PAIR, "role", "metric"],
        ),
        GaugeMetricFamily(
            "imdbops_shadow_difference",
            "Shadow minus champion (higher is better; loss negated), with its bootstrap CI",
            labels=[*_PAIR, "metric", "bound"],
        ),
    )


class ShadowVerdictCollector(Collector):
    """``registry.register(ShadowVerdictCollector(cfg))``."""

    def __init__(self, cfg: Config):
        self._cfg = cfg

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from imdbops.mlops.promotion_policy import read_evidence

        titles, metric, diff = _families()
        for c in (read_evidence(self._cfg) or {}).get("comparisons") or []:
            pair = [str(c.get("shadow_version")), str(c.get("champion_version"))]
            titles.add_metric(pair, float(c.get("titles") or 0))
            for role in ("champion", "shadow"):
                for name, value in (c.get(role) or {}).items():
                    if isinstance(value, int | float):
                        metric.add_metric([*pair, role, name], float(value))
            for name, boot in (c.get("difference") or {}).items():
                for bound, key in (
                    ("estimate", "difference"),
                    ("low", "ci_low"),
                    ("high", "ci_high"),
                ):
                    if isinstance(boot, dict) and isinstance(boot.get(key), int | float):
                        diff.add_metric([*pair, name, bound], float(boot[key]))
        yield from (titles, metric, diff)
