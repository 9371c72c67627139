"""Tuning on a budget: trials fit a stratified subsample and the study stops on time."""

from __future__ import annotations

import logging

import optuna
import pytest

from imdbops.mlops import tune_budget
from imdbops.mlops.tune import tune

pytestmark = pytest.mark.slow


def test_tuning_stops_within_its_budget_on_a_subsample(cfg, splits_dir, monkeypatch, caplog):
    # The 3,000-movie sample is small; shrink the pilot so subsampling kicks in here too.
    monkeypatch.setattr(tune_budget, "PILOT_ROWS", 500)
    monkeypatch.setattr(tune_budget, "MIN_TRIAL_ROWS", 300)
    # Sized for ~40 trials per budget, a trial's share is small enough that the subsample
    # stays below the 2,100 training rows on a fast machine too.
    monkeypatch.setattr(tune_budget, "TRIALS_PER_BUDGET", 40)
    cfg.training.model = "default"
    cfg.training.params = {"n_estimators": 60, "n_folds": 2, "min_child_samples": 10}
    cfg.training.n_trials = 200
    cfg.training.timeout_s = 8.0
    out = cfg.paths.processed_dir / "best_params.json"
    with caplog.at_level(logging.INFO, logger="imdbops"):
        result = tune(cfg, splits_dir, out)

    assert 300 <= result["trial_rows"] < result["train_rows"]
    assert 1 <= result["n_trials_done"] < cfg.training.n_trials  # the budget stopped it
    assert f"{result['n_trials_done']} trials done" in caplog.text
    study = optuna.load_study(
        study_name=result["study"], storage=f"sqlite:///{cfg.paths.state_dir / 'optuna.db'}"
    )
    assert len(study.trials) == result["n_trials_done"]
    assert study.user_attrs["trial_rows"] == result["trial_rows"]

    # A resumed study keeps fitting the same rows (its losses stay comparable).
    cfg.training.n_trials = result["n_trials_done"] + 1
    again = tune(cfg, splits_dir, out)
    assert again["trial_rows"] == result["trial_rows"] and again["n_trials_done"] == 1
