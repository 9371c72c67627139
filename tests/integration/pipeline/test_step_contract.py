"""The step contract on the real training DAG: enforced config views, a real MLflow store
and real S3-compatible lakes (moto on 127.0.0.1) whose outputs are checked on every hit."""

from __future__ import annotations

import dataclasses
import re
import uuid

import pytest
from support.pipeline_kit import MotoServer, ran
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.pipelines.training import PIPELINE, SPEC_BY_NAME, TASK_NAMES, TASK_SPECS, build_dag

ML_TASKS = {"register", "promote"}


def _champion(cfg) -> str | None:
    from imdbops.mlops.registry import alias_version

    return alias_version(cfg)


def _s3_env(monkeypatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # A stopped server must be reported in seconds, not after minutes of retries.
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _bucket(endpoint: str, name: str) -> None:
    from imdbops.dataops.lake import Lake

    Lake(f"s3://{name}", {"endpoint_url": endpoint}).fs.mkdir(name)


def test_the_real_dag_runs_under_enforced_views_and_checks_the_lake(project, monkeypatch, tmp_path):
    _s3_env(monkeypatch)
    first = MotoServer(tmp_path / "moto-a.log")
    second = MotoServer(tmp_path / "moto-b.log")
    endpoint_a, endpoint_b = first.url, second.url
    try:
        bucket = f"lake-{uuid.uuid4().hex[:10]}"
        _bucket(endpoint_a, bucket)
        _bucket(endpoint_b, bucket)
        lake = {"url": f"s3://{bucket}/imdbops", "storage_options": {"endpoint_url": endpoint_a}}

        cold = project.run(lake=lake)
        assert cold.ok, cold.error_summary()
        assert ran(cold) == set(TASK_NAMES)
        assert _champion(project.config()) == "1"
        snapshot = cold.tasks["load"]["external"]["lake_snapshot"]
        assert snapshot["key"].startswith("raw/movies/") and len(snapshot["md5"]) == 32

        again = project.run(lake=lake)
        assert ran(again) == set(), "nothing changed: every task is a hit"
        checked = {n for n, i in again.tasks.items() if "external_check_s" in i}
        assert checked == {"load", "version", "register", "promote"}

        # Same bucket and key, another server: load and version must publish there.
        moved = {**lake, "storage_options": {"endpoint_url": endpoint_b}}
        result = project.run(lake=moved)
        assert result.ok, result.error_summary()
        assert ran(result) == {"load", "version"}
        assert any("endpoint_url" in r and endpoint_b in r for r in result.tasks["load"]["reasons"])
        from imdbops.dataops.lake import Lake

        on_b = Lake(moved["url"], moved["storage_options"])
        assert on_b.exists(snapshot["key"])

        # The object vanished from the lake: load notices on the next hit check.
        on_b.fs.rm(on_b.path(snapshot["key"]))
        result = project.run(lake=moved)
        assert ran(result) == {"load"}
        assert result.tasks["load"]["reasons"] == [
            f"external output missing: s3://{bucket}/imdbops/{snapshot['key']}"
        ]

        # The lake is down during the hit check: an error naming it, never a hit or a re-run.
        second.stop()
        result = project.run(lake=moved)
        assert not result.ok and result.tasks["load"]["decision"] == "failed"
        error = result.tasks["load"]["error"]
        assert f"cannot reach the lake at s3://{bucket}/imdbops" in error
        assert result.tasks["transform"]["state"] == "upstream_failed"
    finally:
        first.stop()
        second.stop()


def test_an_undeclared_read_inside_a_real_step_fails_naming_task_key_and_fix(project):
    cfg = project.config()
    cfg.ensure_dirs()
    specs = tuple(
        dataclasses.replace(s, params=tuple(p for p in s.params if p != "training.val_size"))
        if s.name == "split"
        else s
        for s in TASK_SPECS
    )
    from imdbops.orchestrator import Runner

    dag = build_dag(cfg, dataclasses.replace(PIPELINE, specs=specs))
    runner = Runner(dag, runs_dir=cfg.paths.runs_dir, cache_dir=cfg.paths.state_dir / "o")
    result = runner.run(only=["extract", "validate_raw", "load", "version", "transform"])
    assert result.ok, result.error_summary()
    result = runner.run(only=["validate_processed", "split"])
    error = result.tasks["split"]["error"]
    assert error.startswith(
        "UndeclaredConfigKeyError: task 'split' read config key 'training.val_size' without "
        "declaring it; declare it in TaskSpec('split') in src/imdbops/pipelines/training.py"
    )


def test_registry_outputs_are_checked_on_every_hit(project, tmp_path):
    from mlflow import MlflowClient

    from imdbops.mlops.registry import set_alias

    cfg = project.config()
    assert project.run().ok
    name = cfg.tracking.model_name

    # A second version, held by the gate (same model, no significant gain).
    forced = project.run(force=("register",))
    assert ran(forced) == ML_TASKS and forced.tasks["promote"]["result"]["decision"] == "HOLD"
    assert _champion(cfg) == "1"

    # Someone moves the champion alias by hand: the next run sees it and re-decides.
    set_alias(cfg, "2", "champion")
    result = project.run()
    assert ran(result) == {"promote"}
    assert result.tasks["promote"]["reasons"] == [
        f"external output changed: alias 'champion' of {name} in {cfg.tracking_uri} points at "
        "version 2, recorded version 1"
    ]
    assert result.tasks["promote"]["result"]["reason"] == "version 2 is already the champion"

    # Moving to another (empty) MLflow store by configuration alone.
    other = f"sqlite:///{tmp_path / 'other' / 'mlflow.db'}"
    (tmp_path / "other").mkdir()
    result = project.run(tracking={"uri": other})
    assert result.ok, result.error_summary()
    assert ran(result) == ML_TASKS
    assert (
        "external output model_version now lives elsewhere: tracking_uri"
        in (result.tasks["register"]["reasons"][0])
    )
    cfg_other = project.config(tracking={"uri": other})
    assert _champion(cfg_other) == "1", "the new store has a champion of its own"

    # The registered version is deleted there: register re-runs, and --explain says why.
    MlflowClient(tracking_uri=other, registry_uri=other).delete_model_version(name, "1")
    explained = CliRunner().invoke(
        app, ["pipeline", "run", "--explain"], env={"IMDBOPS_TRACKING__URI": other}
    )
    assert explained.exit_code == 0, explained.output
    squashed = re.sub(r"[\s│┃]+", "", explained.output)
    expected = f"external output missing: model version 1 of {name} in {other}"
    assert re.sub(r"\s+", "", expected) in squashed, explained.output
    assert _champion(cfg_other) == "2"

    # A store that cannot be read during the check fails the task, naming the store.
    (tmp_path / "other" / "mlflow.db").write_bytes(b"this is not a database" * 100)
    result = project.run(tracking={"uri": other})
    assert not result.ok
    assert f"cannot read the MLflow store {other}" in result.tasks["register"]["error"]


# Every declared param and a changed value that keeps the data valid (one at a time).
CHANGES: dict[str, object] = {
    "warehouse.extract_query": None,  # filled in by the test: the same query, reformatted
    "warehouse.min_year": 1800,
    "warehouse.max_rows": 399,
    "warehouse.strict_filters": True,
    "warehouse.host": "127.0.0.2",  # server keys: the DuckDB warehouse ignores them
    "warehouse.port": 5433,
    "warehouse.database": "imdb_two",
    "warehouse.model_schema": "analytics_two",
    "validation": {"max_examples": 4},
    "lake.url": "data/lake-two",
    "training.seed": 7,
    "training.val_size": 0.2,
    "training.test_size": 0.2,
    "training.out_of_time_years": 3,
    "training.params": {"C": 2.0},
    "training.model": "majority",  # (training.params goes back to {}: same two tasks)
    "training.n_trials": 2,
    "training.timeout_s": 90,
    "training.primary_metric": "pr_auc",
    "training.bootstrap_samples": 40,
    "training.bootstrap_alpha": 0.1,
    "training.min_margin_over_baseline": -0.5,
    "training.regression_tolerance": 0.01,
    "training.gate_holdout": "time",  # (cumulative: out_of_time_years is on by now)
    "training.min_compare_rows": 50,
    "training.live_min_titles": 5,  # (no shadow verdict: a PROMOTE becomes a HOLD)
    "training.live_tolerance": 0.01,
    "tracking.experiment": "imdbops-two",
    "tracking.model_name": "imdb-movie-like-two",
}


@pytest.mark.slow
def test_each_declared_key_reruns_its_task_and_what_depends_on_its_outputs(project):
    declared = {k for s in TASK_SPECS for k in s.params}
    assert declared == set(CHANGES), "give every declared key a row in CHANGES"
    settings: dict = {}
    previous = project.run()
    assert previous.ok, previous.error_summary()
    base = project.config()
    for key, value in CHANGES.items():
        section, _, name = key.partition(".")
        if key == "warehouse.extract_query":
            value = "  " + base.warehouse.extract_query + " ;"
        if key == "training.model":
            settings.setdefault("training", {})["params"] = {}
        if name:
            settings.setdefault(section, {})[name] = value
        else:
            settings.setdefault(section, {}).update(value)
        result = project.run(**settings)
        assert result.ok, f"{key}: {result.error_summary()}"
        declaring = {s.name for s in TASK_SPECS if key in s.params}
        for task in TASK_NAMES:
            info, before = result.tasks[task], previous.tasks[task]
            inputs_changed = info["input_hashes"] != before["input_hashes"]
            expected = task in declaring or inputs_changed
            assert (info["decision"] == "ran") == expected, (
                f"changing {key}: {task} {info['decision']} ({info['reasons']}); "
                f"declared by {sorted(declaring)}"
            )
            if task not in declaring and expected:
                assert all(r.startswith("input ") for r in info["reasons"]), (key, task)
        assert declaring <= ran(result)
        previous = result
    assert SPEC_BY_NAME["register"].params  # the registry keys were part of the table
