"""The gate's verdict on common unseen ground needs evidence both ways: a significant gain to
PROMOTE, a regression beyond the tolerance *and* outside noise to REJECT; all else HOLDs."""

from __future__ import annotations

import pytest

from imdbops.config import load_config
from imdbops.mlops.promote import compare_verdict


@pytest.fixture
def t(tmp_path):
    return load_config(paths={"root": str(tmp_path)}).training


def _verdict(t, ch, cp, low, high, known=True):
    boot = {"ci_low": low, "ci_high": high}
    return compare_verdict("roc_auc", ch, cp, boot, t, membership_known=known, rows=5000)


def test_a_significant_regression_beyond_the_tolerance_is_rejected(t):
    verdict, reason = _verdict(t, 0.7376, 0.7483, -0.016, -0.005)
    assert verdict == "REJECT"
    assert "regresses" in reason and "lies below 0" in reason and "5000" in reason


def test_a_regression_within_noise_holds_as_challenger(t):
    # 1990 in benchmarks/promotion_over_time.py: 0.0050 below, the CI straddling 0.
    verdict, reason = _verdict(t, 0.7246, 0.7296 + 0.0001, -0.0110, +0.0010)
    assert verdict == "HOLD" and "includes 0" in reason and "within noise" in reason


def test_a_significant_gain_promotes_and_a_tie_holds(t):
    assert _verdict(t, 0.7597, 0.7258, 0.0245, 0.0425)[0] == "PROMOTE"
    verdict, reason = _verdict(t, 0.7631, 0.7610, -0.0006, 0.0048)
    assert verdict == "HOLD" and "not a significant improvement" in reason


def test_a_champion_of_unknown_membership_never_rejects(t):
    verdict, reason = _verdict(t, 0.60, 0.80, -0.25, -0.15, known=False)
    assert verdict == "HOLD" and "membership is unknown" in reason


def test_the_tolerance_still_applies_to_a_significant_but_small_regression(t):
    # Significant (CI below 0) but smaller than the tolerance: not a REJECT.
    assert _verdict(t, 0.7480, 0.7483, -0.0006, -0.0001)[0] == "HOLD"
