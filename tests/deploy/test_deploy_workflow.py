"""The GitHub Actions workflow: test suite, lint, and an image built and health-checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imdbops.config import load_config

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "ci.yaml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _python(job: dict) -> str | None:
    for step in job["steps"]:
        if str(step.get("uses", "")).startswith("actions/setup-python"):
            return str(step["with"]["python-version"])
    return None


def test_triggers(workflow):
    # PyYAML reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    assert {"push", "pull_request"} <= set(triggers)


def test_test_job_runs_the_ci_entry_point(workflow):
    job = workflow["jobs"]["test"]
    assert job["runs-on"] == "ubuntu-latest"
    assert _python(job) == "3.11"
    assert "bash .ci/run" in _runs(job)


def test_lint_runs_ruff(workflow):
    assert any("ruff check" in _runs(job) for job in workflow["jobs"].values())


def test_image_job_builds_with_the_commit_and_waits_for_healthy(workflow):
    job = workflow["jobs"]["image"]
    runs = _runs(job)
    assert "docker build -f deploy/Dockerfile" in runs
    assert "--build-arg GIT_COMMIT=${{ github.sha }}" in runs
    assert "docker run --rm -d" in runs and "-p 8000:8000" in runs
    assert ".State.Health.Status" in runs and "healthy" in runs
    assert "curl -fsS http://127.0.0.1:8000/api/v1/" in runs
    # The order matters: build, then run, then wait, then curl.
    order = [runs.index(s) for s in ("docker build", "docker run --rm -d", ".State.Health", "curl")]
    assert order == sorted(order)


def test_image_job_overrides_are_real_config_keys(workflow, monkeypatch, tmp_path):
    """`-e IMDBOPS_...` flags in the workflow must parse, or the container dies at start."""
    runs = _runs(workflow["jobs"]["image"])
    flags = [w for w in runs.split() if w.startswith("IMDBOPS_") and "=" in w]
    assert flags
    monkeypatch.delenv("IMDBOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    for flag in flags:
        key, _, value = flag.partition("=")
        monkeypatch.setenv(key, value)
    load_config(paths={"root": tmp_path})


def test_stack_job_runs_the_opt_in_stack_test(workflow):
    job = workflow["jobs"]["stack"]
    assert "tests/deploy/test_deploy_stack.py" in _runs(job)
    env = {k: v for step in job["steps"] for k, v in (step.get("env") or {}).items()}
    assert env.get("RUN_STACK_TESTS") == "1"
    # The stack test is gated by the one marker that reads RUN_STACK_TESTS.
    tests = WORKFLOW.parents[2] / "tests"
    assert "needs_stack]" in (tests / "deploy" / "test_deploy_stack.py").read_text()
    assert (
        'os.environ.get("RUN_STACK_TESTS") != "1" and not os.environ.get("CI")'
        in (tests / "support" / "servers.py").read_text()
    )
