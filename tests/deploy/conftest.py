"""Fixtures for the deployment tests: the shared checks module, parsed files, and the
project image built once per session (``deploy/podman/image.sh``, cached under ~/.cache)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from types import ModuleType

import pytest
import support.deploy_checks as deploy_checks
import yaml

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def checks() -> ModuleType:
    return deploy_checks


@pytest.fixture(scope="session")
def compose() -> dict:
    return yaml.safe_load((deploy_checks.DEPLOY / "compose.yaml").read_text())


PODMAN_SCRIPT = HERE.parents[1] / "deploy" / "podman" / "image.sh"
# In the build's environment; must never reach the image (tests/deploy/test_image_run.py).
BUILD_CANARY = "image-canary-secret-7d1f"


def podman_env() -> dict[str, str]:
    """The environment under which plain ``podman`` uses image.sh's storage and settings."""
    out = subprocess.run(
        ["bash", str(PODMAN_SCRIPT), "env"], capture_output=True, text=True, timeout=60, check=True
    )
    env = dict(os.environ)
    for part in out.stdout.replace("export ", "").split():
        key, _, value = part.partition("=")
        env[key] = value.strip("'")
    return env


@pytest.fixture(scope="session")
def image() -> tuple[str, dict[str, str]]:
    """The project image, built (or reused from podman's layer cache) once per session:
    its tag and the podman environment. A cold build takes minutes, a cached one seconds."""
    from support.ci_guard import skip_unless_ci

    missing = [tool for tool in ("podman", "mmdebstrap", "runc") if shutil.which(tool) is None]
    if missing:
        skip_unless_ci(f"{', '.join(missing)} not installed (apt-get install {' '.join(missing)})")
    env = {**os.environ, "IMDBOPS_SERVING__ADMIN_TOKEN": BUILD_CANARY}
    started = time.monotonic()
    out = subprocess.run(
        ["bash", str(PODMAN_SCRIPT), "build"], env=env, capture_output=True, text=True, timeout=1800
    )
    assert out.returncode == 0, out.stderr[-5000:]
    print(f"image build: {time.monotonic() - started:.0f}s")
    return out.stdout.strip().splitlines()[-1], podman_env()
