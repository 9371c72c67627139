"""Keeping tuning inside ``training.timeout_s`` at any data size.

A trial is one full fit, so on millions of titles a single trial can outlast the whole
budget. Instead, trials fit a stratified subsample of the train split whose size grows with
the budget: a short pilot fit on ``PILOT_ROWS`` rows measures seconds per row, and the
subsample is sized so the budget left holds about ``TRIALS_PER_BUDGET`` trials (the pilot
over-estimates the per-row cost, fixed costs included, so trials come out shorter, not
longer). The validation split is subsampled in the same proportion. The final model is
still fitted on the whole train split by the train step.

Optuna's own ``timeout`` is only checked between trials, so a trial started just before the
deadline overruns it by a whole trial; ``BudgetStop`` stops the study instead once the time
left is shorter than the longest trial so far.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

PILOT_ROWS = 4_000
TRIALS_PER_BUDGET = 6
MIN_TRIAL_ROWS = 2_000


def stratified_rows(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted positions of a class-stratified sample of ``n`` of ``y``'s rows (all if fewer)."""
    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(y):
        where = np.flatnonzero(y == label)
        take = max(1, round(n * len(where) / len(y)))
        picked.append(rng.choice(where, size=min(take, len(where)), replace=False))
    return np.sort(np.concatenate(picked))


def trial_rows(seconds_per_row: float, n_train: int, seconds_left: float, n_trials: int) -> int:
    """Training rows per trial so ``seconds_left`` holds ~``TRIALS_PER_BUDGET`` trials."""
    per_trial = max(seconds_left, 0.0) / max(1, min(n_trials, TRIALS_PER_BUDGET))
    rows = int(per_trial / max(seconds_per_row, 1e-9))
    return int(min(n_train, max(rows, min(MIN_TRIAL_ROWS, n_train))))


@dataclass
class TrialData:
    """The (possibly subsampled) train and validation sets every trial of a study fits."""

    X_train: object
    y_train: np.ndarray
    X_val: object
    y_val: np.ndarray
    rows: int
    train_rows: int


def subsample(splits: dict, rows: int, seed: int) -> TrialData:
    """``rows`` stratified training rows and the same share of the validation rows."""
    (X_train, y_train), (X_val, y_val) = splits["train"], splits["val"]
    n_train = len(y_train)
    rows = min(rows, n_train)
    fit = stratified_rows(y_train, rows, seed)
    val_rows = min(len(y_val), max(MIN_TRIAL_ROWS, math.ceil(len(y_val) * rows / n_train)))
    val = stratified_rows(y_val, val_rows, seed + 1)
    return TrialData(
        X_train.iloc[fit].reset_index(drop=True),
        np.asarray(y_train)[fit],
        X_val.iloc[val].reset_index(drop=True),
        np.asarray(y_val)[val],
        rows=len(fit),
        train_rows=n_train,
    )


def pilot_seconds_per_row(spec, params: dict, seed: int, splits: dict) -> float:
    """Wall seconds per training row of one fit + validation scoring on ``PILOT_ROWS`` rows."""
    data = subsample(splits, PILOT_ROWS, seed)
    started = time.perf_counter()
    pipeline = spec.build(params, seed)
    spec.fit(pipeline, data.X_train, data.y_train, data.X_val, data.y_val)
    pipeline.predict_proba(data.X_val)
    return (time.perf_counter() - started) / data.rows


class BudgetStop:
    """Optuna callback: stop before a trial that would not end before ``deadline``."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.longest = 0.0
        self.finished = 0

    def __call__(self, study, trial) -> None:
        self.finished += 1
        if trial.duration is not None:
            self.longest = max(self.longest, trial.duration.total_seconds())
        if time.perf_counter() + self.longest > self.deadline:
            study.stop()
