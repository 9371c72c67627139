"""deploy/compose.yaml: the whole stack, configured only by the environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from imdbops.config import load_config
from imdbops.redaction import SECRET_KEY_PATTERN

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-test",
    "AWS_ACCESS_KEY_ID": "minio-test",
    "AWS_SECRET_ACCESS_KEY": "minio-secret-test",
    "IMDBOPS_ADMIN_TOKEN": "admin-test",
    "GRAFANA_ADMIN_PASSWORD": "grafana-test",
}


def _rendered(env: dict[str, str], checks) -> dict:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return checks.interpolate_tree(compose, env)


def test_stack_has_every_service(compose):
    services = compose["services"]
    assert {"api", "mlflow", "postgres", "minio", "train", "prometheus", "grafana"} <= set(services)
    # The training job is one-shot: it only runs when asked for.
    assert services["train"].get("profiles") == ["train"]
    assert "imdbops pipeline run" in " ".join(services["train"]["command"])
    assert services["api"]["command"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]


def test_images_are_pinned_and_builds_exist(compose):
    for name, svc in compose["services"].items():
        image = svc.get("image", "")
        assert image and not image.endswith(":latest"), f"{name}: pin the image tag"
        if "build" in svc:
            build = svc["build"]
            context = (DEPLOY / build["context"]).resolve()
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        else:
            tag = image.rsplit("/", 1)[-1]
            assert ":" in tag, f"{name}: {image} has no tag"


def test_mlflow_runs_on_postgres_with_s3_artifacts(compose, checks):
    env = _rendered(SECRETS, checks)["services"]["mlflow"]["environment"]
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith(
        "postgresql+psycopg://mlflow:pg-test@postgres:"
    )
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "--serve-artifacts" in compose["services"]["mlflow"]["command"]
    depends = compose["services"]["mlflow"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    # The Dockerfile pins the same MLflow as the client the app installs.
    from importlib.metadata import version

    assert f'"mlflow=={version("mlflow")}"' in (DEPLOY / "mlflow" / "Dockerfile").read_text()


def test_every_secret_comes_from_the_environment(checks, compose):
    required = checks.required_in_tree(compose)
    assert set(SECRETS) <= required
    for name in SECRETS:
        partial = {k: v for k, v in SECRETS.items() if k != name}
        with pytest.raises(checks.MissingVariable, match=name):
            checks.interpolate_tree(compose, partial)
    rendered = _rendered(SECRETS, checks)
    for svc in rendered["services"].values():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(SECRET_KEY_PATTERN, key):
                assert value in SECRETS.values(), f"{key} is not taken from the environment"


def test_interpolation_follows_compose_rules(checks):
    env = {"SET": "x", "EMPTY": ""}
    assert (
        checks.interpolate("${SET} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} $$HOME", env)
        == "x d d  $HOME"
    )
    with pytest.raises(checks.MissingVariable, match="EMPTY: give it"):
        checks.interpolate("${EMPTY:?give it}", env)


def test_app_environment_is_a_valid_config(checks, monkeypatch, tmp_path):
    env = _rendered(SECRETS, checks)["services"]["api"]["environment"]
    monkeypatch.delenv("IMDBOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("IMDBOPS_PATHS__ROOT", str(tmp_path))
    cfg = load_config()
    assert cfg.tracking_uri == "http://mlflow:5000"
    assert cfg.lake.url.startswith("s3://")
    assert cfg.lake.storage_options == json.loads(env["IMDBOPS_LAKE__STORAGE_OPTIONS"])
    assert cfg.serving.admin_token.get_secret_value() == "admin-test"
    assert "admin-test" not in json.dumps(cfg.redacted())


def test_monitoring_mounts_exist(compose):
    """Prometheus and Grafana read the monitoring helper's deploy/prometheus and deploy/grafana."""
    for name in ("prometheus", "grafana"):
        for volume in compose["services"][name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"
    assert (DEPLOY / "prometheus" / "prometheus.yml").is_file()
    scrape = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert "api:8000" in scrape, "Prometheus must scrape the compose service api:8000"


def test_grafana_dashboards_use_the_provisioned_datasource(compose):
    provisioned = yaml.safe_load(compose["configs"]["grafana-datasource"]["content"])
    uids = {ds["uid"] for ds in provisioned["datasources"]}
    dashboards = sorted((DEPLOY / "grafana").glob("*.json"))
    assert dashboards, "no Grafana dashboard in deploy/grafana"

    def refs(obj):
        if isinstance(obj, dict):
            ds = obj.get("datasource")
            if isinstance(ds, dict) and "uid" in ds:
                yield ds["uid"]
            for value in obj.values():
                yield from refs(value)
        elif isinstance(obj, list):
            for item in obj:
                yield from refs(item)

    for path in dashboards:
        used = set(refs(json.loads(path.read_text())))
        assert used, f"{path.name} references no datasource"
        assert used <= uids, f"{path.name} uses datasources {used - uids}, provisioned {uids}"
