"""Every health check the deployment uses points at a route the app really serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from starlette.routing import Match

from imdbops.serving.app import create_app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _probe_paths() -> dict[str, str]:
    paths = {}
    for manifest in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        for doc in yaml.safe_load_all(manifest.read_text()):
            if not doc or doc.get("kind") != "Deployment":
                continue
            for c in doc["spec"]["template"]["spec"]["containers"]:
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if probe in c:
                        where = f"{manifest.relative_to(DEPLOY)}:{c['name']}.{probe}"
                        paths[where] = c[probe]["httpGet"]["path"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for url in re.findall(r"https?://127\.0\.0\.1:8000(/[^'\"\s]*)", dockerfile):
        paths[f"Dockerfile HEALTHCHECK {url}"] = url
    return paths


PROBES = _probe_paths()


def _routed(app, path: str) -> bool:
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "app": app}
    return any(route.matches(scope)[0] is Match.FULL for route in app.routes)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from imdbops.config import load_config

    root = tmp_path_factory.mktemp("probes")
    return create_app(load_config(paths={"root": root}), load_on_startup=False)


def test_the_deployment_has_all_three_probes_and_a_docker_healthcheck():
    kinds = {where.rsplit(".", 1)[-1] for where in PROBES if ":" in where}
    assert {"startupProbe", "livenessProbe", "readinessProbe"} <= kinds
    assert any(w.startswith("Dockerfile HEALTHCHECK") for w in PROBES)


@pytest.mark.parametrize("where", sorted(PROBES))
def test_probe_path_is_served_by_the_app(app, where):
    assert _routed(app, PROBES[where]), (
        f"{where} probes {PROBES[where]}, which the app does not serve"
    )


def test_route_matching_can_fail(app):
    assert not _routed(app, "/api/v1/no-such-health-route")
