"""Interop with stock DVC 3: each tool restores what the other pushed, byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.dataops.versioning import add

pytestmark = pytest.mark.dvc


def imdbops_data(cfg, *args: str) -> str:
    config = cfg.paths.root / "imdbops.yaml"
    config.write_text(f"paths:\n  root: {cfg.paths.root}\n")
    result = CliRunner().invoke(app, ["--config", str(config), "data", *args])
    assert result.exit_code == 0, result.output
    return result.output


def make_data(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    movies = folder / "movies.csv"
    movies.write_text("tconst,primaryTitle\ntt0000001,Carmencita\ntt0000002,Le clown\n")
    splits = folder / "splits"
    (splits / "nested").mkdir(parents=True, exist_ok=True)
    (splits / "train.csv").write_text("a\n1\n")
    (splits / "nested" / "test.csv").write_text("a\n2\n")
    return movies, splits


def dvc_project(run_dvc, root: Path, remote: Path) -> Path:
    root.mkdir(parents=True)
    run_dvc(root, "init", "--no-scm", "-q")
    run_dvc(root, "remote", "add", "-d", "lake", str(remote))
    return root


def test_stock_dvc_pulls_what_imdbops_pushed(cfg, run_dvc, tmp_path):
    movies, splits = make_data(cfg.paths.raw_dir)
    imdbops_data(cfg, "add", str(movies), str(splits))
    imdbops_data(cfg, "push")
    remote = cfg.paths.root / "data" / "lake" / "dvc"

    project = dvc_project(run_dvc, tmp_path / "dvcproj", remote)
    for name in ("movies.csv.dvc", "splits.dvc"):
        shutil.copy(cfg.paths.raw_dir / name, project / name)
    run_dvc(project, "pull")
    assert (project / "movies.csv").read_bytes() == movies.read_bytes()
    assert (project / "splits" / "nested" / "test.csv").read_text() == "a\n2\n"
    assert "in sync" in run_dvc(project, "status", "-c")


def test_imdbops_pulls_what_stock_dvc_pushed(cfg, run_dvc, tmp_path):
    remote = cfg.paths.root / "data" / "lake" / "dvc"
    project = dvc_project(run_dvc, tmp_path / "dvcproj", remote)
    movies, splits = make_data(project)
    run_dvc(project, "add", "-q", "movies.csv", "splits")
    run_dvc(project, "push")

    for name in ("movies.csv.dvc", "splits.dvc"):
        shutil.copy(project / name, cfg.paths.raw_dir / name)
    imdbops_data(cfg, "pull")
    assert (cfg.paths.raw_dir / "movies.csv").read_bytes() == movies.read_bytes()
    assert (cfg.paths.raw_dir / "splits" / "train.csv").read_text() == "a\n1\n"

    # Same content, same .dvc file: our writer matches DVC's byte for byte.
    for name in ("movies.csv", "splits"):
        ours = add(cfg, cfg.paths.raw_dir / name)
        assert (cfg.paths.raw_dir / f"{name}.dvc").read_text() == (
            project / f"{name}.dvc"
        ).read_text()
        assert ours.md5 in (project / f"{name}.dvc").read_text()
