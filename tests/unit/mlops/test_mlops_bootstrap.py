"""Paired bootstrap and the fast ROC-AUC used inside it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from imdbops.mlops.bootstrap import _fast_auc, paired_bootstrap


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.6).astype(int)
    good = np.clip(0.5 + 0.35 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    weak = np.clip(0.5 + 0.05 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    return y, good, weak


def test_fast_auc_matches_sklearn_with_ties():
    y, good, _ = _data()
    tied = np.round(good, 1)
    assert _fast_auc(y, tied) == pytest.approx(roc_auc_score(y, tied))


def test_identical_models_are_not_significantly_different():
    y, good, _ = _data()
    boot = paired_bootstrap(y, good, good.copy(), samples=200, seed=1)
    assert boot["difference"] == 0 and boot["ci_low"] == 0 and boot["ci_high"] == 0


def test_clearly_better_model_has_ci_above_zero_and_is_seeded():
    y, good, weak = _data()
    a = paired_bootstrap(y, good, weak, samples=300, seed=3)
    b = paired_bootstrap(y, good, weak, samples=300, seed=3)
    assert a == b
    assert a["ci_low"] > 0 and a["ci_low"] <= a["difference"] <= a["ci_high"]
    reverse = paired_bootstrap(y, weak, good, samples=300, seed=3)
    assert reverse["ci_high"] < 0


def test_losses_are_negated_so_higher_is_better():
    y, good, weak = _data()
    boot = paired_bootstrap(y, good, weak, metric="loss", samples=100)
    assert boot["difference"] > 0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap(np.array([0, 1]), np.array([0.1]), np.array([0.2, 0.3]))
    with pytest.raises(ValueError, match="alpha"):
        paired_bootstrap(np.array([0, 1]), np.array([0.1, 0.9]), np.array([0.2, 0.3]), alpha=2)
