"""A real DVC in a throwaway virtualenv, built once per DVC version and reused across runs.

Cached under ``~/.cache/imdbops-test-dvc-venv/dvc-<version>`` (override the folder with
``IMDBOPS_TEST_DVC_VENV_DIR``, the version with ``IMDBOPS_TEST_DVC_VERSION``). It is built in
a temporary sibling and renamed into place, so parallel workers never share a half venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

DVC_VERSION = os.environ.get("IMDBOPS_TEST_DVC_VERSION", "3.67.1")
_OFFLINE_HINTS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ProxyError",
    "ConnectTimeout",
    "Read timed out",
    "SSLError",
)


def venv_root() -> Path:
    default = Path.home() / ".cache" / "imdbops-test-dvc-venv"
    return Path(os.environ.get("IMDBOPS_TEST_DVC_VENV_DIR", default)).expanduser()


def ensure_dvc_venv() -> Path:
    """The venv's python (``python -m dvc`` survives the rename; console scripts do not)."""
    target = venv_root() / f"dvc-{DVC_VERSION}"
    if (target / ".complete").exists():
        return target / "bin" / "python"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".building-{DVC_VERSION}-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True)
        proc = subprocess.run(
            [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", f"dvc=={DVC_VERSION}"],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        if proc.returncode != 0:
            output = proc.stdout + proc.stderr
            if any(hint in output for hint in _OFFLINE_HINTS):
                pytest.skip(
                    f"pip cannot reach the package registry to install dvc: {output[-300:]}"
                )
            pytest.fail(f"pip install dvc=={DVC_VERSION} failed:\n{output[-2000:]}")
        (tmp / ".complete").touch()
        try:
            os.rename(tmp, target)
        except OSError:
            pass  # another worker finished first; use theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / "bin" / "python"


@pytest.fixture(scope="session")
def dvc_python() -> Path:
    return ensure_dvc_venv()


@pytest.fixture
def run_dvc(dvc_python, tmp_path):
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(tmp_path / "dvc-site-cache"),
        "DVC_GLOBAL_CONFIG_DIR": str(tmp_path / "dvc-global"),
    }

    def run(cwd: Path, *args: str) -> str:
        proc = subprocess.run(
            [str(dvc_python), "-m", "dvc", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    return run
