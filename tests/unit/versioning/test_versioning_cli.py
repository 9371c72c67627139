"""The ``imdbops data`` versioning commands: output, exit codes, no tracebacks."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from imdbops.cli import app


def _run(cfg, *args):
    config = cfg.paths.root / "imdbops.yaml"
    config.write_text(f"paths:\n  root: {cfg.paths.root}\n")
    return CliRunner().invoke(app, ["--config", str(config), "data", *args])


def test_cli_add_push_status_log_pull(cfg):
    data = cfg.paths.raw_dir / "movies.csv"
    data.write_text("a,b\n1,2\n")
    result = _run(cfg, "add", str(data))
    assert result.exit_code == 0, result.output
    assert "e5ebd4c02cefbe7955977c67ada242b7" in result.output
    assert _run(cfg, "status").exit_code == 0
    assert _run(cfg, "status", "--cloud").exit_code == 1, "not pushed yet"
    assert "pushed 1 object" in _run(cfg, "push").output
    assert _run(cfg, "status", "--cloud").exit_code == 0
    assert "e5ebd4c02cefbe7955977c67ada242b7" in _run(cfg, "log", str(data)).output
    data.unlink()
    shutil.rmtree(cfg.paths.cache_dir)
    result = _run(cfg, "pull")
    assert result.exit_code == 0, result.output
    assert data.read_text() == "a,b\n1,2\n"


def test_cli_errors_are_one_line(cfg):
    data = cfg.paths.raw_dir / "movies.csv"
    data.write_text("x\n")
    _run(cfg, "add", str(data))
    shutil.rmtree(cfg.paths.cache_dir)
    result = _run(cfg, "pull", str(data))
    assert result.exit_code == 1
    assert "401b30e3b8b5d629635a5c613cdb7919" in result.output
    assert "is missing from remote" in result.output
    assert "Traceback" not in result.output
    result = _run(cfg, "add", str(cfg.paths.root / "nope.csv"))
    assert result.exit_code == 1 and "no such file" in result.output
