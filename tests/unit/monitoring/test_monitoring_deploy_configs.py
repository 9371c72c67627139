"""The Prometheus config, alert rules and Grafana dashboard query metrics the app really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
_METRIC = re.compile(r"\b(imdbops_[a-z_]+)")
_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def _exported_families(cfg) -> set[str]:
    from imdbops.serving.app import create_app

    app = create_app(cfg, load_on_startup=False)
    text = TestClient(app).get("/metrics").text  # no lifespan: no model, no log writer
    return {_family(line.split()[2]) for line in text.splitlines() if line.startswith("# TYPE ")}


def _family(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "imdbops-monitoring.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def _rule_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "imdbops.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def test_every_queried_metric_is_exported_by_the_app(cfg):
    exported = _exported_families(cfg)
    assert {"imdbops_drift_share", "imdbops_feature_drift_score"} <= exported
    queried = {_family(m) for e in _dashboard_exprs() + _rule_exprs() for m in _METRIC.findall(e)}
    assert queried, "the dashboard and rules query no imdbops metrics"
    assert queried <= exported, f"not exported: {sorted(queried - exported)}"


def test_prometheus_configs_scrape_the_api_and_load_the_rules():
    for name in ("prometheus.yml", "prometheus-k8s.yml"):
        config = yaml.safe_load((DEPLOY / "prometheus" / name).read_text())
        assert config["rule_files"] == ["rules/*.yml"]
        jobs = config["scrape_configs"]
        assert jobs and all("job_name" in j for j in jobs)
    compose = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    api = compose["scrape_configs"][0]
    assert api["metrics_path"] == "/metrics" and api["static_configs"][0]["targets"] == ["api:8000"]
