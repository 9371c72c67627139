"""The Kubernetes manifests: schema-valid (strict, offline), and shaped as the issue asks."""

from __future__ import annotations

import copy
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml
from support.ci_guard import skip_unless_ci
from support.k8s import BASE, K8S, K8S_VERSION
from support.k8s import base as _base
from support.k8s import container_security_ok as _container_security_ok
from support.k8s import docs as _docs
from support.k8s import validate as _validate
from support.k8s import writable_mounts as _writable_mounts

from imdbops.config import load_config

OVERLAYS = ("dev", "prod")

MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def _render(overlay: str) -> dict[str, dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        skip_unless_ci(
            "kubectl (for `kubectl kustomize`) is not installed (apt-get install kubectl)"
        )
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    kinds = [d["kind"] for d in docs]
    # A kind that occurs once is keyed by kind alone, otherwise by "Kind/name".
    return {
        d["kind"] if kinds.count(d["kind"]) == 1 else f"{d['kind']}/{d['metadata']['name']}": d
        for d in docs
    }


def test_schema_version_is_current():
    major, minor = (int(x) for x in K8S_VERSION.split(".")[:2])
    assert (major, minor) >= (1, 33)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_validates_strictly(path):
    docs = _docs(path)
    assert docs, f"{path} holds no object"
    for doc in docs:
        _validate(doc)


def test_strict_validation_rejects_unknown_fields():
    bad = copy.deepcopy(_base("Deployment"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(bad)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_render_to_valid_objects(overlay):
    rendered = _render(overlay)
    for obj in rendered.values():
        _validate(obj)
    assert "Secret" not in rendered, "the Secret template must stay out of kustomize output"
    expected = {"Namespace", "ConfigMap", "Deployment", "Service"}
    expected |= {"HorizontalPodAutoscaler", "PodDisruptionBudget"}
    expected |= {"CronJob/imdbops-train", "CronJob/imdbops-monitor"}
    expected |= {"PersistentVolumeClaim/imdbops-monitoring"}
    assert expected <= set(rendered)
    namespace = rendered["Namespace"]["metadata"]["name"]
    assert all(o["metadata"].get("namespace", namespace) == namespace for o in rendered.values())


def test_overlays_differ_where_intended():
    dev, prod = _render("dev"), _render("prod")
    assert dev["Deployment"]["spec"]["replicas"] == 1
    assert prod["Deployment"]["spec"]["replicas"] == 3
    assert dev["CronJob/imdbops-train"]["spec"].get("suspend") is True
    assert not prod["CronJob/imdbops-train"]["spec"].get("suspend", False)
    shared = "PersistentVolumeClaim/imdbops-monitoring"
    assert prod[shared]["spec"]["accessModes"] == ["ReadWriteMany"], "3 replicas on many nodes"
    assert dev[shared]["spec"]["accessModes"] == ["ReadWriteOnce"], "a one-node dev cluster"
    assert dev["Namespace"]["metadata"]["name"] != prod["Namespace"]["metadata"]["name"]
    for rendered in (dev, prod):
        hpa = rendered["HorizontalPodAutoscaler"]["spec"]
        assert (
            hpa["minReplicas"] <= rendered["Deployment"]["spec"]["replicas"] <= hpa["maxReplicas"]
        )
        image = rendered["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
        assert ":" in image and not image.endswith(":latest")


def test_secret_template_holds_only_placeholders_and_is_not_applied(checks):
    secret = _docs(BASE / "secret.template.yaml")[0]
    assert secret["kind"] == "Secret"
    assert set(secret["stringData"].values()) == {"REPLACE_ME"}
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert "secret.template.yaml" not in kustomization["resources"]
    for name in kustomization["resources"]:
        assert (BASE / name).is_file(), f"kustomization lists missing {name}"


def test_serving_deployment_is_hardened_and_rolls_safely():
    dep = _base("Deployment")
    spec = dep["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert (
        dep["metadata"]["name"] == "imdbops-api"
    )  # docs/deployment.md: kubectl rollout undo deployment/imdbops-api
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    _container_security_ok(container["securityContext"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert "httpGet" in container[probe], probe
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    cfg = load_config(paths={"root": "/data"})
    writable = _writable_mounts(pod, container)
    assert {"/tmp", "/data", str(cfg.paths.logs_dir)} <= writable
    # Every folder the app writes to is on a writable volume under the read-only root.
    for path in (cfg.paths.data_dir, cfg.paths.state_dir, cfg.monitoring.prediction_log_dir):
        assert any(str(path).startswith(m) for m in writable), path


def test_service_hpa_pdb_target_the_deployment():
    dep = _base("Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    container_ports = {
        p["name"]: p["containerPort"]
        for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    svc = _base("Service")
    assert svc["spec"]["selector"].items() <= labels.items()
    assert all(p["targetPort"] in container_ports for p in svc["spec"]["ports"])
    hpa = _base("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": dep["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] <= dep["spec"]["replicas"]
    pdb = _base("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_training_cronjob_never_overlaps_and_runs_the_pipeline():
    cron = _base("CronJob", "imdbops-train")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    _container_security_ok(container["securityContext"])
    assert "imdbops pipeline run" in " ".join(container["command"] + container["args"])
    assert {"/tmp", "/data"} <= _writable_mounts(pod, container)


def _mounted_claims(pod: dict, container: dict) -> dict[str, str]:
    """mountPath -> PVC name for the container's PVC-backed mounts."""
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    return {
        m["mountPath"]: claims[m["name"]] for m in container["volumeMounts"] if m["name"] in claims
    }


def test_drift_job_reads_the_log_the_api_writes_and_treats_drift_as_a_result():
    config = _base("ConfigMap")["data"]
    log_dir = config["IMDBOPS_MONITORING__PREDICTION_LOG_DIR"]
    reports_dir = config["IMDBOPS_MONITORING__REPORTS_DIR"]
    api_pod = _base("Deployment")["spec"]["template"]["spec"]
    cron = _base("CronJob", "imdbops-monitor")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job_pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (job,) = job_pod["containers"]
    _container_security_ok(job["securityContext"])
    api_claims = _mounted_claims(api_pod, api_pod["containers"][0])
    job_claims = _mounted_claims(job_pod, job)
    for folder in (log_dir, reports_dir):
        # Both pods see the same claim under the same mount for the log and the verdicts.
        api_mount = next(m for m in api_claims if folder.startswith(m + "/"))
        assert job_claims.get(api_mount) == api_claims[api_mount], folder
    _base("PersistentVolumeClaim", api_claims[api_mount])
    script = " ".join(job["args"])
    assert script.startswith("imdbops monitor run")
    # The job's shell maps exit 3 (drift found) to success and keeps every other code.
    for rc, expected in ((0, 0), (3, 0), (2, 2), (1, 1)):
        shell = script.replace("imdbops monitor run", f"(exit {rc})", 1)
        assert subprocess.run(["/bin/sh", "-c", shell], capture_output=True).returncode == expected


def test_configmap_is_a_valid_imdbops_config(monkeypatch, tmp_path):
    monkeypatch.delenv("IMDBOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    data = _base("ConfigMap")["data"]
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IMDBOPS_PATHS__ROOT", str(tmp_path))  # keep the check off /data
    cfg = load_config()
    assert cfg.tracking_uri == data["IMDBOPS_TRACKING__URI"]
    assert cfg.lake.url == data["IMDBOPS_LAKE__URL"]


def test_startup_probe_outlasts_a_slow_tracking_server():
    """The server answers only after its first champion load, which may wait on MLflow for
    timeout x (retries + 1); liveness must not kill the pod before that."""
    data = _base("ConfigMap")["data"]
    wait = float(data["MLFLOW_HTTP_REQUEST_TIMEOUT"]) * (
        int(data["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) + 1
    )
    probe = _base("Deployment")["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] > wait
