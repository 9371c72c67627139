"""The image's ENTRYPOINT + CMD, run outside a container: the server answers with no model.

No Docker engine runs here, so this is the closest local check of `docker run imdbops`; the
`image` job in .github/workflows/ci.yaml runs the real container.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120  # a fresh MLflow SQLite store migrates its schema on first start


def _image_command(checks) -> list[str]:
    stages = checks.parse_dockerfile((REPO / "deploy" / "Dockerfile").read_text())
    entrypoint = checks.exec_form(checks.final(stages, "ENTRYPOINT"))
    cmd = checks.exec_form(checks.final(stages, "CMD"))
    return entrypoint + cmd


def _healthcheck_command(checks) -> list[str]:
    """The HEALTHCHECK's CMD array from the Dockerfile (`HEALTHCHECK [options] CMD [...]`)."""
    stages = checks.parse_dockerfile((REPO / "deploy" / "Dockerfile").read_text())
    args = checks.final(stages, "HEALTHCHECK").args
    _, _, exec_json = args.partition("CMD ")
    return json.loads(exec_json)


def _healthcheck(argv: list[str], url: str) -> int:
    """Run the image's health check as Docker would, pointed at the test server."""
    assert argv[0] == "python"
    env = dict(os.environ, HEALTHCHECK_URL=url)
    out = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30)
    return out.returncode


def _with_option(argv: list[str], option: str, value: str) -> list[str]:
    assert option in argv, f"the image command sets no {option}: {argv}"
    i = argv.index(option)
    return argv[: i + 1] + [value] + argv[i + 2 :]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_image_command_serves_and_turns_healthy_with_a_champion(checks, cfg, free_port):
    argv = _image_command(checks)
    assert argv[:2] == ["imdbops", "serve"]
    # Same arguments as the image, bound to loopback on a free port.
    argv = _with_option(_with_option(argv, "--host", "127.0.0.1"), "--port", str(free_port))
    argv[0] = str(Path(sys.executable).parent / argv[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    env["IMDBOPS_PATHS__ROOT"] = str(cfg.paths.root)  # as the image's ENV does with /data
    env["IMDBOPS_SERVING__RELOAD_POLL_S"] = "1"  # pick the champion up quickly
    log = cfg.paths.logs_dir / "serve.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, cwd=cfg.paths.root, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"`{' '.join(argv)}` exited:\n{log.read_text()}"
            try:
                status, body = _get(f"{base}/api/v1/")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"no answer on {base} within {START_TIMEOUT_S}s:\n{log.read_text()}"
                    )
                time.sleep(0.5)
        assert status == 200, body
        ready_status, ready = _get(f"{base}/api/v1/ready")
        assert ready_status == 503, ready
        assert ready["data"]["ready"] is False
        health = _healthcheck_command(checks)
        assert _healthcheck(health, f"{base}/api/v1/ready") != 0, "unhealthy without a model"

        # Promote a champion (as the training job would); the running server follows the
        # alias and the image's health check turns healthy.
        from support.serving import register_champion

        version = register_champion(cfg)
        deadline = time.monotonic() + START_TIMEOUT_S
        while _get(f"{base}/api/v1/ready")[0] != 200:
            assert time.monotonic() < deadline, f"never ready:\n{log.read_text()}"
            time.sleep(0.5)
        assert _healthcheck(health, f"{base}/api/v1/ready") == 0
        status, body = _get(f"{base}/api/v1/")
        assert status == 200 and body["data"]["model_loaded"] is True, body
        assert str(version) in json.dumps(_get(f"{base}/api/v1/ready")[1])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
