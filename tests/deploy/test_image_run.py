"""deploy/Dockerfile built and run for real with podman (no registry: a Debian base image).

`deploy/podman/image.sh build` builds (or reuses from ~/.cache/imdbops/image) the base image
and the project image. Then the container runs the training job (ingest, warehouse, pipeline) on 3,000
real movies in a mounted data folder, and serves the champion it produced: `podman healthcheck run` must pass
and a predict request over a port published on 127.0.0.1 must answer. Neither the image's
config nor its history may carry a secret.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from support.ports import free_port
from support.relkit import load_small_warehouse, write_small_dumps
from support.servers import needs_stack, shared_stack

from imdbops.config import load_config
from imdbops.pipelines.training import EDGES, TASK_NAMES

REPO = Path(__file__).resolve().parents[2]
# A cold build (Debian base + every dependency from PyPI) takes minutes; a cached one seconds.
pytestmark = [
    pytest.mark.slow,
    # A cold build (base + every dependency) runs inside the first test's setup.
    pytest.mark.timeout(3600),
    pytest.mark.skipif(
        os.environ.get("RUN_STACK_TESTS") != "1" and not os.environ.get("CI"),
        reason="builds a container image: set RUN_STACK_TESTS=1 (.ci/run does)",
    ),
]
CANARY = "image-canary-secret-7d1f"  # conftest.BUILD_CANARY: in the build's environment only
TINY = {
    "IMDBOPS_TRAINING__MODEL": "logreg",
    "IMDBOPS_TRAINING__N_TRIALS": "2",
    "IMDBOPS_TRAINING__TIMEOUT_S": "60",
    "IMDBOPS_TRAINING__BOOTSTRAP_SAMPLES": "200",
}


def _podman(env, *args, timeout=600, check=True) -> subprocess.CompletedProcess:
    out = subprocess.run(
        ["podman", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert out.returncode == 0, f"podman {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out


def test_image_help_and_no_secret(image):
    tag, env = image
    out = _podman(env, "run", "--rm", tag, "--help")
    assert "serve" in out.stdout and "pipeline" in out.stdout
    # --format docker keeps the HEALTHCHECK (OCI images drop it).
    health = _podman(env, "image", "inspect", "--format", "{{json .Config.Healthcheck}}", tag)
    assert "/api/v1/ready" in health.stdout
    inspect = _podman(env, "image", "inspect", tag).stdout
    history = _podman(env, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).stdout
    secrets = [CANARY] + [
        v
        for k, v in os.environ.items()
        if len(v) >= 8 and any(w in k.upper() for w in ("SECRET", "TOKEN", "PASSWORD", "_KEY"))
    ]
    for text in (inspect, history):
        leaked = [s[:4] + "..." for s in secrets if s in text]
        assert not leaked, f"secret values in the image metadata: {leaked}"
    # The runtime stage carries the venv only: no compiler, no pip cache.
    out = _podman(
        env,
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        tag,
        "-c",
        "command -v gcc || true; ls /root/.cache/pip 2>/dev/null || true",
    )
    assert out.stdout.strip() == ""


def test_image_trains_then_serves_the_champion(image, tmp_path):
    tag, env = image
    data = tmp_path / "data"
    write_small_dumps(data / "dumps", n=3000)  # 3,000 real movies in IMDb's dump format
    for path in (data, *data.rglob("*")):
        shutil.chown(path, 10001, 10001)  # the image's non-root user owns /data
    run_env = [f"--env={k}={v}" for k, v in TINY.items()]
    train = _podman(
        env,
        "run", "--rm", "--network=none", f"--volume={data}:/data", *run_env,
        "--entrypoint", "sh", tag, "-c",
        "imdbops data ingest --source imdb --basics dumps/title.basics.tsv.gz"
        " --ratings dumps/title.ratings.tsv.gz && imdbops warehouse build && imdbops pipeline run",
        timeout=1200, check=False,
    )  # fmt: skip
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]

    port, name = free_port(), f"imdbops-test-{os.getpid()}"
    _podman(
        env,
        "run", "--detach", f"--name={name}", f"--publish=127.0.0.1:{port}:8000",
        f"--volume={data}:/data", "--env=IMDBOPS_SERVING__ADMIN_TOKEN=run-time-only", tag,
    )  # fmt: skip
    try:
        deadline, health = time.monotonic() + 180, None
        while time.monotonic() < deadline:
            health = _podman(env, "healthcheck", "run", name, check=False)
            if health.returncode == 0:
                break
            time.sleep(2)
        logs = _podman(env, "logs", name, check=False)
        assert health is not None and health.returncode == 0, (
            health.stdout + health.stderr + logs.stdout[-3000:] + logs.stderr[-3000:]
        )
        body = json.dumps(
            {"items": [{"title": "Heat", "genres": ["Crime", "Drama"], "year": 1995}]}
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/predict",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 200
            answer = json.loads(resp.read())
        text = json.dumps(answer)
        assert "probability" in text or "like" in text, text
    finally:
        _podman(env, "rm", "--force", "--time=5", name, check=False)


@needs_stack
def test_each_task_in_its_own_container_sharing_only_the_servers(image, tmp_path):
    """Issue #15's demonstration with containers: every training task in a container of its
    own (no volume; host networking to reach the servers on 127.0.0.1), then the API in
    another container serves the champion and its prediction log reaches S3."""
    tag, podman_env = image
    with shared_stack(tmp_path / "servers") as stack:
        settings = {**stack["env"], **TINY}
        host_env = {k: v for k, v in os.environ.items() if not k.startswith(("IMDBOPS_", "AWS_"))}
        loader = tmp_path / "loader"
        load_small_warehouse(loader, {**host_env, **settings, "HOME": str(loader)})

        # Values come from podman's environment (`--env NAME`), never its command line.
        env = {**podman_env, **settings}
        passed = [f"--env={k}" for k in settings]
        reports: dict[str, str] = {}
        for name in TASK_NAMES:
            upstream = [a for u, d in EDGES if d == name for a in ("--upstream", reports[u])]
            out = _podman(
                env,
                "run", "--rm", "--network=host", *passed, tag,
                "pipeline", "task", name, "--run-id", "in-containers", *upstream,
                timeout=900, check=False,
            )  # fmt: skip
            assert out.returncode == 0, f"{name}:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
            reports[name] = out.stdout.strip().splitlines()[-1]
        decision = json.loads(reports["promote"])
        assert decision["decision"] == "ran", decision

        port, name = free_port(), f"imdbops-api-{os.getpid()}"
        _podman(
            env,
            "run", "--detach", f"--name={name}", "--network=host", *passed, tag,
            "serve", "--host", "127.0.0.1", "--port", str(port),
        )  # fmt: skip
        try:
            answer = _predict_when_ready(port, _podman, env, name)
            from mlflow import MlflowClient

            champion = MlflowClient(stack["tracking"]).get_model_version_by_alias(
                load_config().tracking.model_name, "champion"
            )
            assert answer["data"]["predictions"][0]["model_version"] == champion.version, answer
            deadline, parts = time.monotonic() + 60, []
            while not parts and time.monotonic() < deadline:
                time.sleep(1)
                stack["fs"].invalidate_cache()
                parts = [
                    p for p in stack["fs"].find("imdbops/predictions") if p.endswith(".parquet")
                ]
            assert parts, "the API container's prediction log did not reach S3 in 60 s"
        finally:
            _podman(env, "rm", "--force", "--time=5", name, check=False)
        inspect = _podman(env, "image", "inspect", tag).stdout
        assert stack["env"]["AWS_SECRET_ACCESS_KEY"] not in inspect


def _predict_when_ready(port: int, podman, env, name: str) -> dict:
    body = json.dumps({"items": [{"title": "Heat", "genres": ["Crime", "Drama"]}]}).encode()
    deadline = time.monotonic() + 180
    while True:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/predict",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as resp:
                return json.loads(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                logs = podman(env, "logs", name, check=False)
                raise AssertionError(logs.stdout[-3000:] + logs.stderr[-3000:]) from None
            time.sleep(2)
