"""A tiny real project for the step-contract tests: the bundled warehouse, built once per
session with the real ingest + dbt build, copied into each test's own project folder; the
training DAG then runs for real (logreg, one trial, a 400-row extract)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from support.pipeline_kit import Project, tiny_settings

from imdbops.config import load_config


@pytest.fixture(scope="session")
def bundled_warehouse(tmp_path_factory) -> Path:
    from imdbops.dataops.warehouse import ingest_bundled
    from imdbops.dataops.warehouse_build import build_warehouse

    root = tmp_path_factory.mktemp("bundled-warehouse")
    cfg = load_config(paths={"root": root})
    cfg.ensure_dirs()
    ingest_bundled(cfg)
    build_warehouse(cfg)
    return cfg.warehouse.path


@pytest.fixture
def project(cfg, bundled_warehouse, monkeypatch) -> Project:
    shutil.copy(bundled_warehouse, cfg.warehouse.path)
    config_file = cfg.paths.root / "imdbops.yaml"
    config_file.write_text(yaml.safe_dump(tiny_settings()))
    monkeypatch.setenv("IMDBOPS_CONFIG", str(config_file))
    return Project(cfg.paths.root, config_file)
