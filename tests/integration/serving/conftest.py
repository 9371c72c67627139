"""Fixtures for the serving tests: a real model in a temporary MLflow store, a real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.serving import ServerThread, register_champion, train_small_model

from imdbops.config import Config, load_config
from imdbops.serving.app import create_app

ADMIN_TOKEN = "test-admin-token-123"


def make_config(root: Path, **serving) -> Config:
    """A Config rooted in ``root`` that ignores any config file of the surrounding checkout."""
    previous = os.environ.pop("IMDBOPS_CONFIG", None)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        cfg = load_config(
            paths={"root": root},
            serving={"admin_token": ADMIN_TOKEN, "reload_poll_s": 3600, **serving},
            monitoring={"flush_interval_s": 0.2},
        )
    finally:
        os.chdir(cwd)
        if previous is not None:
            os.environ["IMDBOPS_CONFIG"] = previous
    cfg.ensure_dirs()
    return cfg


@pytest.fixture(scope="session", autouse=True)
def _fast_model_logging() -> Iterator[None]:
    # MLflow infers pip requirements by re-importing the model in a subprocess (~15 s per
    # registration here); tests do not need that list, and MLflow falls back to its defaults.
    previous = os.environ.get("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT")
    os.environ["MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT"] = "1"
    yield
    if previous is None:
        os.environ.pop("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", None)
    else:
        os.environ["MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT"] = previous


@pytest.fixture(scope="session")
def small_model():
    """One real logreg pipeline fitted on 1,000 bundled IMDb rows (shared by the session)."""
    model, _ = train_small_model(n=1000)
    return model


@pytest.fixture(scope="session")
def champion_cfg(tmp_path_factory, small_model) -> Config:
    """A project with version 1 registered and aliased ``champion`` (read-only for tests)."""
    cfg = make_config(tmp_path_factory.mktemp("champion"))
    register_champion(cfg, small_model)
    return cfg


@pytest.fixture(scope="module")
def server(champion_cfg) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(champion_cfg)).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture
def config_factory():
    """``make_config(root, **serving)`` for tests that need their own project."""
    return make_config
