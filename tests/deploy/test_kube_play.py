"""The dev overlay's manifests played as pods with ``podman kube play``, from the project image.

``kubectl kustomize deploy/k8s/overlays/dev`` renders the manifests; the test plays them as
rendered, against the servers the multi-machine tests use (PostgreSQL, moto's S3, an MLflow
server proxying artifacts; ``support_servers.shared_stack``): first the training CronJob's
job template once as a pod, then the API Deployment with its ConfigMap, the Secret (stored as
a podman secret, the only way podman plays one) and the monitoring PersistentVolumeClaim, then
the monitor CronJob's job template once as a pod on the same claim.

What the test changes in its copy, and why (``ADAPTED``), and what podman 4.3 does not play
(``IGNORED_BY_PODMAN``) are printed and listed in docs/deployment.md. The ConfigMap gets the
test's server addresses and a small training budget, as an overlay's configMapGenerator
would. Podman runs no startup or readiness probe, so the test calls each probe's path itself,
at the manifest's port, period, timeout and failure threshold, from inside the pod (kubelet
probes the pod's own address; the pod's loopback is the one address a test may use here).
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from support.servers import needs_stack, shared_stack

from imdbops.config import load_config

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "deploy" / "k8s" / "overlays" / "dev"
pytestmark = [pytest.mark.slow, needs_stack, pytest.mark.timeout(2400)]
# slirp4netns gives each pod its own network; 10.0.2.2 inside it is the host's loopback,
# where the test's servers listen (they never leave 127.0.0.1).
NETWORK = "slirp4netns:allow_host_loopback=true"
HOST = "10.0.2.2"
ADMIN_TOKEN = "kube-play-admin-token-5c2e"  # planted: must appear in no log and no file
TRAINING = {
    "IMDBOPS_TRAINING__MODEL": "logreg",
    "IMDBOPS_TRAINING__N_TRIALS": "2",
    "IMDBOPS_TRAINING__TIMEOUT_S": "60",
    "IMDBOPS_TRAINING__BOOTSTRAP_SAMPLES": "200",
    "IMDBOPS_WAREHOUSE__MAX_ROWS": "3000",  # the job's bundled data, trained on 3,000 movies
}
ADAPTED = {
    "image": "the rendered ghcr.io tag, tagged locally onto the image built here (no registry)",
    "imagePullPolicy: Always": "IfNotPresent: nothing to pull from",
    "ConfigMap": "tracking/lake addresses of the test's servers, a small training budget",
    "Secret": "a podman secret of the same keys (podman 4.3 reads a JSON map of base64 values)",
    "CronJob": "its jobTemplate's pod template played once as a Pod (podman plays no CronJob)",
}
IGNORED_BY_PODMAN = (
    "startupProbe, readinessProbe (run by the test instead)",
    "livenessProbe: made a healthcheck `curl -f http://localhost:0/...` (the named port is not"
    " resolved, and the image has no curl), so podman reports it unhealthy; the test runs it",
    "fsGroup (podman chowns a new volume to the container's user on first mount instead)",
    "emptyDir: played as a named volume called after the volume (data, tmp, logs), shared by"
    " every pod that names one so; the test removes a pod and its emptyDirs before the next",
    "replicas, strategy, revisionHistoryLimit, topologySpreadConstraints (one pod per Deployment)",
    "resources.requests (no scheduler); namespace; automountServiceAccountToken (no API server)",
    "emptyDir.sizeLimit; PVC accessModes and storage size (a local podman volume)",
    "Service, HorizontalPodAutoscaler, PodDisruptionBudget, Namespace (not playable kinds)",
)


def _podman(env, *args, timeout=600, check=True, input=None) -> subprocess.CompletedProcess:
    out = subprocess.run(
        ["podman", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input,
    )
    if check:
        assert out.returncode == 0, f"podman {' '.join(args[:3])}:\n{out.stdout}\n{out.stderr}"
    return out


def _render() -> list[dict]:
    if shutil.which("kubectl") is None:
        from support.ci_guard import skip_unless_ci

        skip_unless_ci("kubectl not installed (it renders the overlay: apt-get install kubectl)")
    out = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _one(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"{kind} {name}: {[d['metadata']['name'] for d in found]}"
    return copy.deepcopy(found[0])


def _job_pod(cronjob: dict) -> dict:
    """The CronJob's job template as the Pod a Job would create."""
    template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": cronjob["metadata"]["name"], "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }


def _pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj["spec"]


def _containers(obj: dict) -> list[dict]:
    return _pod_spec(obj)["containers"]


def _adapt(obj: dict, tag: str) -> dict:
    for c in _containers(obj):
        c["image"] = tag
        c["imagePullPolicy"] = "IfNotPresent"
    return obj


def _play(env, tmp: Path, name: str, docs: list[dict]) -> None:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    _podman(env, "kube", "play", f"--network={NETWORK}", str(path), timeout=300)


def _exec(env, container: str, code: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return _podman(env, "exec", container, "python", "-c", code, timeout=timeout, check=False)


def _probe(env, container: str, probe: dict, port: int) -> tuple[bool, float]:
    """Run a probe as kubelet would: GET path every periodSeconds, timeoutSeconds each, up to
    failureThreshold consecutive failures (kubelet's defaults where the manifest has none)."""
    get = probe["httpGet"]
    url = f"http://127.0.0.1:{port}{get['path']}"
    timeout = probe.get("timeoutSeconds", 1)
    period = probe.get("periodSeconds", 10)
    code = (
        "import sys, urllib.request\n"
        f"try: sys.exit(0 if urllib.request.urlopen({url!r}, timeout={timeout}).status < 400"
        " else 1)\nexcept Exception: sys.exit(1)"
    )
    started = time.monotonic()
    for _ in range(probe.get("failureThreshold", 3)):
        if _exec(env, container, code, timeout=timeout + 30).returncode == 0:
            return True, time.monotonic() - started
        time.sleep(period)
    return False, time.monotonic() - started


def _volume_dir(env, name: str) -> Path:
    out = _podman(env, "volume", "inspect", name, "--format", "{{.Mountpoint}}")
    return Path(out.stdout.strip())


def _wait_exit(env, container: str, timeout: float) -> int:
    out = _podman(env, "wait", container, timeout=timeout)
    return int(out.stdout.strip().splitlines()[-1])


def test_dev_overlay_played_as_pods(image, tmp_path):
    from mlflow import MlflowClient

    tag, env = image
    docs = _render()
    deployment = _one(docs, "Deployment", "imdbops-api")
    config_map = _one(docs, "ConfigMap", "imdbops-config")
    claims = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    train = _job_pod(_one(docs, "CronJob", "imdbops-train"))
    monitor = _job_pod(_one(docs, "CronJob", "imdbops-monitor"))
    rendered_tag = _containers(deployment)[0]["image"]
    _podman(env, "tag", tag, rendered_tag)
    print("adapted:", json.dumps(ADAPTED), "\nignored by podman:", "; ".join(IGNORED_BY_PODMAN))

    played_pods = ["imdbops-train", "imdbops-api-pod-0", "imdbops-monitor"]
    volumes = [c["metadata"]["name"] for c in claims]
    empty_dirs = sorted(
        {v["name"] for obj in (deployment, train, monitor) for v in _pod_spec(obj)["volumes"]
         if "emptyDir" in v}
    )  # fmt: skip
    with shared_stack(tmp_path / "servers") as stack:
        s3 = stack["s3"].replace("127.0.0.1", HOST)
        options = json.dumps({"endpoint_url": s3})
        config_map["data"].update(
            {
                "IMDBOPS_TRACKING__URI": stack["tracking"].replace("127.0.0.1", HOST),
                "IMDBOPS_LAKE__URL": "s3://imdbops/lake",
                "IMDBOPS_LAKE__STORAGE_OPTIONS": options,
                **TRAINING,
            }
        )
        # The Secret's `data` as podman 4.3 plays it: a JSON map of base64 values.
        secret = {
            k: base64.b64encode(v.encode()).decode()
            for k, v in {
                "AWS_ACCESS_KEY_ID": stack["env"]["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": stack["env"]["AWS_SECRET_ACCESS_KEY"],
                "IMDBOPS_SERVING__ADMIN_TOKEN": ADMIN_TOKEN,
            }.items()
        }
        planted = [ADMIN_TOKEN, stack["env"]["AWS_SECRET_ACCESS_KEY"]]
        try:
            _podman(env, "secret", "rm", "imdbops-secrets", check=False)
            # From stdin: the value never lands in a file or on a command line.
            _podman(env, "secret", "create", "imdbops-secrets", "-", input=json.dumps(secret))
            for name in volumes + empty_dirs:
                _podman(env, "volume", "rm", "--force", name, check=False)

            # 1. The training job, once.
            started = time.monotonic()
            _play(env, tmp_path, "train", [config_map, _adapt(train, rendered_tag)])
            rc = _wait_exit(env, "imdbops-train-train", timeout=1200)
            logs = _podman(env, "logs", "imdbops-train-train", check=False)
            assert rc == 0, logs.stdout[-3000:] + logs.stderr[-4000:]
            train_s = time.monotonic() - started
            champion = MlflowClient(stack["tracking"]).get_model_version_by_alias(
                load_config().tracking.model_name, "champion"
            )

            # 2. The API Deployment, ready through its own probes.
            _play(env, tmp_path, "api", [config_map, _adapt(deployment, rendered_tag)])
            api = "imdbops-api-pod-0-api"  # podman's names for a Deployment's pod
            container = _containers(deployment)[0]
            port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
            inspect = json.loads(_podman(env, "container", "inspect", api).stdout)[0]
            assert inspect["Config"]["User"].startswith("10001"), inspect["Config"]["User"]
            assert inspect["HostConfig"]["ReadonlyRootfs"] is True
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                ok, took = _probe(env, api, container[kind], port)
                logs = _podman(env, "logs", api, check=False)
                assert ok, f"{kind} failed:\n{logs.stdout[-2000:]}{logs.stderr[-3000:]}"
                print(f"{kind} {container[kind]['httpGet']['path']} passed after {took:.0f}s")

            # 3. A prediction from the champion; the log lands on the claim.
            predict = (
                "import json, urllib.request\n"
                "body = json.dumps({'items': [{'title': 'Heat', 'genres': ['Crime', 'Drama']}]})\n"
                f"req = urllib.request.Request('http://127.0.0.1:{port}/api/v1/predict', "
                "data=body.encode(), headers={'Content-Type': 'application/json'})\n"
                "print(urllib.request.urlopen(req, timeout=30).read().decode())"
            )
            out = _exec(env, api, predict, timeout=60)
            assert out.returncode == 0, out.stderr
            answer = json.loads(out.stdout)
            assert answer["data"]["predictions"][0]["model_version"] == champion.version
            sim = _podman(
                env, "exec", api, "imdbops", "monitor", "simulate", "--url",
                f"http://127.0.0.1:{port}", "--drifted", "--n", "300", "--rate", "500",
                "--batch", "20", timeout=300, check=False,
            )  # fmt: skip
            assert sim.returncode == 0, sim.stdout[-2000:] + sim.stderr[-2000:]
            monitoring = _volume_dir(env, "imdbops-monitoring")
            deadline = time.monotonic() + 30
            while not list((monitoring / "predictions").rglob("*.parquet")):
                assert time.monotonic() < deadline, sorted(monitoring.rglob("*"))
                time.sleep(0.5)

            # The Secret reached the app.
            token = _exec(
                env, api, "import os; print(len(os.environ['IMDBOPS_SERVING__ADMIN_TOKEN']))"
            )
            assert token.stdout.strip() == str(len(ADMIN_TOKEN))
            logs_of = {api: _podman(env, "logs", api, check=False)}
            # podman shares an emptyDir by name between pods (k8s gives each pod its own):
            # the API pod and its emptyDirs go before the next pod plays. Its prediction log
            # stays on the claim; the monitor job recovers what the WAL still holds.
            _podman(env, "pod", "rm", "--force", "--time=10", "imdbops-api-pod-0", check=False)
            for name in empty_dirs:
                _podman(env, "volume", "rm", "--force", name, check=False)

            # 4. The monitor job, once, on the same claim: its verdict where the docs say.
            _play(env, tmp_path, "monitor", [config_map, _adapt(monitor, rendered_tag)])
            rc = _wait_exit(env, "imdbops-monitor-monitor", timeout=600)
            logs = _podman(env, "logs", "imdbops-monitor-monitor", check=False)
            assert rc == 0, logs.stdout[-3000:] + logs.stderr[-4000:]
            verdict = json.loads((monitoring / "reports" / "latest.json").read_text())
            assert verdict["model_version"] == champion.version, verdict
            assert verdict["drift_detected"] is True and "drift detected" in logs.stdout

            # 5. The Secret's values are in no log line and no file the pods wrote.
            leaks = []
            for ctr in ("imdbops-train-train", "imdbops-monitor-monitor"):
                logs_of[ctr] = _podman(env, "logs", ctr, check=False)
            for ctr, out in logs_of.items():
                leaks += [ctr for s in planted if s in out.stdout + out.stderr]
            for name in volumes:
                for path in _volume_dir(env, name).rglob("*"):
                    if path.is_file():
                        data = path.read_bytes()
                        leaks += [str(path) for s in planted if s.encode() in data]
            assert not leaks, f"a secret value in: {sorted(set(leaks))}"
            print(f"training job {train_s:.0f}s")
        finally:
            for pod in played_pods:
                _podman(env, "pod", "rm", "--force", "--time=5", pod, check=False)
            for name in volumes + empty_dirs:
                _podman(env, "volume", "rm", "--force", name, check=False)
            _podman(env, "secret", "rm", "imdbops-secrets", check=False)
