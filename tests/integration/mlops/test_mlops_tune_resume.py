"""Tuning: a real Optuna study in SQLite that resumes where it stopped."""

from __future__ import annotations

import json

import optuna
import pytest

from imdbops.mlops.tracking import get_client
from imdbops.mlops.tune import tune

pytestmark = pytest.mark.slow


def test_interrupted_study_resumes_to_the_total(cfg, splits_dir):
    cfg.training.model = "logreg"
    cfg.training.n_trials = 2
    out = cfg.paths.processed_dir / "best_params.json"
    first = tune(cfg, splits_dir, out)
    assert first["n_trials"] == 2

    cfg.training.n_trials = 4
    second = tune(cfg, splits_dir, out)
    assert second["study"] == first["study"] and second["n_trials"] == 4
    study = optuna.load_study(
        study_name=second["study"], storage=f"sqlite:///{cfg.paths.state_dir / 'optuna.db'}"
    )
    assert len(study.trials) == 4
    assert json.loads(out.read_text())["params"] == second["params"]
    assert second["best_val_loss"] <= first["best_val_loss"]

    # Every trial is a nested MLflow run under its tune parent run.
    client = get_client(cfg)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    trials = client.search_runs([exp.experiment_id], "tags.`imdbops.step` = 'tune-trial'")
    assert len(trials) == 4
    parents = {r.data.tags["mlflow.parentRunId"] for r in trials}
    assert parents == {first["mlflow_run_id"], second["mlflow_run_id"]}
    assert all("val_loss" in r.data.metrics for r in trials)


def test_an_error_that_is_not_a_value_error_fails_the_parent_run(cfg, splits_dir, monkeypatch):
    # Optuna only catches ValueError; anything else used to leave the tune run RUNNING.
    cfg.training.model = "logreg"
    cfg.training.n_trials = 2
    monkeypatch.setenv("IMDBOPS_FAILPOINTS", "tune.after_trial:raise")
    from imdbops.failpoints import InjectedFault

    with pytest.raises(InjectedFault):
        tune(cfg, splits_dir, cfg.paths.processed_dir / "best_params.json")
    client = get_client(cfg)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    runs = client.search_runs([exp.experiment_id])
    statuses = {r.data.tags["imdbops.step"]: r.info.status for r in runs}
    assert statuses == {"tune": "FAILED", "tune-trial": "FINISHED"}
    assert not (cfg.paths.processed_dir / "best_params.json").exists()
