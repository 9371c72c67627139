"""Fixtures for the deployment tests: the shared checks module and parsed files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

HERE = Path(__file__).resolve().parent


def _load_checks() -> ModuleType:
    # pytest runs with --import-mode=importlib, so sibling modules are not importable by name.
    name = "imdbops_deploy_checks"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "deploy_checks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def checks() -> ModuleType:
    return _load_checks()


@pytest.fixture(scope="session")
def compose() -> dict:
    return yaml.safe_load((_load_checks().DEPLOY / "compose.yaml").read_text())
