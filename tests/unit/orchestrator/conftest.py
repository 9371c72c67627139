"""Toy tasks for the orchestrator tests, written to a fresh module per test.

A real module on disk (not functions defined in a test) because the runner hashes task
source from disk and runs timed-out tasks in a child process that imports them.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

TOY_SOURCE = '''
import json
import os
import time
from pathlib import Path

from imdbops.atomic import atomic_write_text


def _log(log_dir, name):
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(log_dir) / "calls.log", "a") as fh:
        fh.write(name + "\\n")


def make(numbers, n, log_dir):
    _log(log_dir, "make")
    atomic_write_text(numbers, json.dumps(list(range(n))))


def square(numbers, squares, log_dir):
    _log(log_dir, "square")
    values = json.loads(Path(numbers).read_text())
    atomic_write_text(squares, json.dumps([v * v for v in values]))


def total(squares, total, log_dir):
    _log(log_dir, "total")
    atomic_write_text(total, str(sum(json.loads(Path(squares).read_text()))))


def sleepy(out, seconds, log_dir):
    _log(log_dir, "sleepy")
    time.sleep(seconds)
    atomic_write_text(out, "slept")


def flaky(out, failures, log_dir):
    _log(log_dir, "flaky")
    calls = (Path(log_dir) / "calls.log").read_text().split().count("flaky")
    if calls <= failures:
        raise ConnectionError(f"transient failure {calls}")
    atomic_write_text(out, f"ok after {calls}")


def boom(numbers, out, log_dir):
    _log(log_dir, "boom")
    if (Path(log_dir) / "broken").exists():
        raise ValueError("the toy task is broken: delete the 'broken' flag")
    atomic_write_text(out, Path(numbers).read_text() + "\\n")


def gated(numbers, out, log_dir):
    """Signals it started, then waits for a 'release' file (so a test can kill it mid-task)."""
    _log(log_dir, "gated")
    (Path(log_dir) / "gated.started").write_text(str(os.getpid()))
    while not (Path(log_dir) / "release").exists():
        time.sleep(0.05)
    atomic_write_text(out, json.dumps(json.loads(Path(numbers).read_text())[::-1]))


def forgetful(out, log_dir):
    _log(log_dir, "forgetful")
'''


def write_toy_module(directory: Path, source: str = TOY_SOURCE):
    name = f"toy_{uuid.uuid4().hex[:10]}"
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    return importlib.import_module(name), path


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """(module, path) of a fresh toy task module importable by this process and children."""
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    monkeypatch.syspath_prepend(str(mod_dir))
    module, path = write_toy_module(mod_dir)
    yield module, path
    sys.modules.pop(module.__name__, None)


def calls(log_dir: Path) -> list[str]:
    path = Path(log_dir) / "calls.log"
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def read_calls():
    return calls
