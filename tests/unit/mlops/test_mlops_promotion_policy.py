"""The live-evidence policy's decision table, on a real verdict file in a temporary project."""

from __future__ import annotations

import pytest

from imdbops.atomic import atomic_write_json
from imdbops.config import load_config
from imdbops.mlops.promotion_policy import apply_live_policy, live_evidence_path


def _cfg(tmp_path, **training):
    return load_config(paths={"root": tmp_path}, training={"live_min_titles": 50, **training})


def _verdict(cfg, titles: int, low: float, high: float, shadow: str = "2", champion: str = "1"):
    boot = {"difference": (low + high) / 2, "ci_low": low, "ci_high": high}
    atomic_write_json(
        live_evidence_path(cfg),
        {
            "run_id": "20260101T000000Z",
            "created_at": "2026-01-01T00:00:00+00:00",
            "comparisons": [
                {"shadow_version": shadow, "champion_version": champion, "titles": titles,
                 "difference": {"roc_auc": boot, "loss": boot}}
            ],
        },
    )  # fmt: skip


def _decide(cfg, verdict="PROMOTE", champion="1", force=False):
    decision = {"challenger_version": "2"}
    out, reason = apply_live_policy(cfg, decision, verdict, "offline ok", champion, force)
    return out, reason, decision


@pytest.mark.parametrize(
    ("titles", "low", "high", "expected"),
    [
        (49, 0.01, 0.05, "HOLD"),  # too few labelled titles
        (50, -0.004, 0.05, "PROMOTE"),  # not worse beyond the tolerance
        (50, -0.05, 0.02, "HOLD"),  # undecided: keep shadowing
        (50, -0.09, -0.01, "REJECT"),  # worse with confidence
    ],
)
def test_the_decision_table(tmp_path, titles, low, high, expected):
    cfg = _cfg(tmp_path)
    _verdict(cfg, titles, low, high)
    verdict, reason, decision = _decide(cfg)
    assert verdict == expected, reason
    evidence = decision["live_evidence"]
    assert evidence["run_id"] == "20260101T000000Z" and evidence["labelled_titles"] == titles
    assert evidence["required_titles"] == 50 and evidence["champion_version"] == "1"


def test_off_forced_first_champion_and_offline_holds_are_untouched(tmp_path):
    cfg = _cfg(tmp_path)
    _verdict(cfg, 0, -1, -1)
    assert _decide(_cfg(tmp_path, live_min_titles=0))[0] == "PROMOTE"
    assert _decide(cfg, force=True)[0] == "PROMOTE"
    assert _decide(cfg, champion=None)[0] == "PROMOTE"
    assert _decide(cfg, verdict="HOLD")[0] == "HOLD"
    assert _decide(cfg, verdict="REJECT")[0] == "REJECT"


def test_evidence_against_another_champion_does_not_count(tmp_path):
    cfg = _cfg(tmp_path)
    _verdict(cfg, 500, 0.01, 0.05, champion="7")
    verdict, reason, _ = _decide(cfg)
    assert verdict == "HOLD" and "0 of 50 labelled titles" in reason


def test_no_verdict_yet_holds_and_says_what_to_run(tmp_path):
    verdict, reason, decision = _decide(_cfg(tmp_path))
    assert verdict == "HOLD" and "imdbops monitor" in reason
    assert decision["live_evidence"]["run_id"] is None
