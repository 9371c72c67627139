"""Tuning budget helpers: stratified subsamples, trial sizing and the stop-before-deadline rule."""

from __future__ import annotations

import time

import numpy as np
import optuna

from imdbops.mlops import tune_budget


def test_stratified_rows_keep_the_class_shares():
    y = np.array([1] * 300 + [0] * 700)
    rows = tune_budget.stratified_rows(y, 100, seed=0)
    assert len(rows) == 100 and len(set(rows)) == 100
    assert (y[rows] == 1).sum() == 30
    assert list(tune_budget.stratified_rows(y, 5_000, seed=0)) == list(range(1000))


def test_trial_rows_grow_with_the_budget_and_stay_within_the_split():
    per_row = 1e-3  # one second per 1,000 rows
    small = tune_budget.trial_rows(per_row, 1_000_000, seconds_left=60, n_trials=12)
    big = tune_budget.trial_rows(per_row, 1_000_000, seconds_left=600, n_trials=12)
    assert small == 60 * 1000 // tune_budget.TRIALS_PER_BUDGET
    assert big == 10 * small
    assert tune_budget.trial_rows(per_row, 30_000, seconds_left=600, n_trials=12) == 30_000
    floor = tune_budget.trial_rows(per_row, 30_000, seconds_left=0.1, n_trials=12)
    assert floor == tune_budget.MIN_TRIAL_ROWS


def test_budget_stop_ends_the_study_before_a_trial_that_would_overrun():
    study = optuna.create_study()
    deadline = time.perf_counter() + 1.0
    stop = tune_budget.BudgetStop(deadline)

    def objective(trial):
        time.sleep(0.3)
        return trial.suggest_float("x", 0, 1)

    study.optimize(objective, n_trials=50, callbacks=[stop])
    assert stop.finished == len(study.trials) < 50
    # The last trial started while there was still time for one more of its length.
    last = study.trials[-1]
    assert last.datetime_start is not None and stop.longest >= 0.3
