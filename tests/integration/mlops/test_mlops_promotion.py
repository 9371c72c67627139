"""Promotion gate, history and rollback against a real MLflow registry."""

from __future__ import annotations

import json
import threading

import pytest
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.mlops import registry
from imdbops.mlops.models import get_spec
from imdbops.mlops.promote import (
    PromotionError,
    promote,
    promote_version,
    read_history,
    rollback,
)
from imdbops.mlops.split import load_split, read_split_meta

pytestmark = pytest.mark.slow


def _fit(name, params, splits_dir, seed=0):
    spec = get_spec(name)
    _, X_train, y_train = load_split(splits_dir, "train")
    _, X_val, y_val = load_split(splits_dir, "val")
    pipeline = spec.build(params, seed)
    return spec.fit(pipeline, X_train, y_train, X_val, y_val)


def _register(cfg, model, splits_dir, kind):
    tags = {
        "split_md5": read_split_meta(splits_dir)["split_md5"],
        "model_kind": kind,
        "data_md5": "test",
        "git_commit": "unknown",
        "trained_at": "2026-01-01T00:00:00+00:00",
    }
    return registry.log_model_version(cfg, model, metrics={}, params={}, tags=tags).version


def _decision_tag(cfg, version):
    mv = registry.get_client(cfg).get_model_version(cfg.tracking.model_name, version)
    return mv.tags.get("promotion_decision")


def test_gate_history_rollback_and_concurrency(cfg, splits_dir):
    cfg.training.min_margin_over_baseline = 0.02
    cfg.training.bootstrap_samples = 400
    weak_model = _fit("reference", {"epochs": 2, "max_features": 2000}, splits_dir)
    weak = _register(cfg, weak_model, splits_dir, "reference")
    strong_model = _fit("logreg", {"char_ngram_max": 3, "min_df": 3}, splits_dir)
    strong = _register(cfg, strong_model, splits_dir, "logreg")
    majority = _register(cfg, _fit("majority", {}, splits_dir), splits_dir, "majority")
    clone = _register(cfg, strong_model, splits_dir, "logreg")

    # First model passing the baseline gate becomes champion.
    first = promote_version(cfg, weak, splits_dir)
    assert first["decision"] == "PROMOTE", first["reason"]
    assert registry.alias_version(cfg) == weak

    # A significantly better challenger replaces it (task function: registered.json in, decision.json out).
    registered = cfg.paths.runs_dir / "registered.json"
    registered.parent.mkdir(parents=True, exist_ok=True)
    registered.write_text(json.dumps({"version": strong}))
    better = promote(cfg, registered, splits_dir)
    assert better["decision"] == "PROMOTE", better["reason"]
    assert better["bootstrap"]["ci_low"] > 0 and better["champion_same_split"]
    assert json.loads((registered.parent / "decision.json").read_text())["decision"] == "PROMOTE"
    assert registry.alias_version(cfg) == strong

    # The majority model fails the baseline margin: REJECT, champion stays.
    rejected = promote_version(cfg, majority, splits_dir)
    assert rejected["decision"] == "REJECT" and "baseline" in rejected["reason"]
    assert registry.alias_version(cfg) == strong

    # Equal (not significantly better): HOLD, it becomes the challenger, champion stays.
    held = promote_version(cfg, clone, splits_dir)
    assert held["decision"] == "HOLD" and held["bootstrap"]["difference"] == 0
    assert registry.alias_version(cfg) == strong
    assert registry.alias_version(cfg, "challenger") == clone

    # A worse challenger: REJECT beyond the regression tolerance, HOLD within it.
    worse = promote_version(cfg, weak, splits_dir)
    assert worse["decision"] == "REJECT" and "regresses" in worse["reason"]
    cfg.training.regression_tolerance = 0.5
    assert promote_version(cfg, weak, splits_dir)["decision"] == "HOLD"
    assert registry.alias_version(cfg) == strong
    cfg.training.regression_tolerance = 0.005
    assert _decision_tag(cfg, majority) == "REJECT" and _decision_tag(cfg, clone) == "HOLD"

    # Manual promotion is gated unless forced; the force is recorded.
    forced = promote_version(cfg, majority, splits_dir, force=True)
    assert forced["decision"] == "PROMOTE" and forced["forced"]
    assert read_history(cfg) == [weak, strong, majority]

    # Rollback walks the history back.
    assert rollback(cfg)["to_version"] == strong
    assert rollback(cfg)["to_version"] == weak
    assert registry.alias_version(cfg) == weak
    with pytest.raises(PromotionError, match="no previous champion"):
        rollback(cfg)

    result = CliRunner().invoke(app, ["model", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["version"]: r for r in json.loads(result.output)}
    assert rows[weak]["aliases"] == ["champion"]
    result = CliRunner().invoke(app, ["model", "rollback"])
    assert result.exit_code == 1 and "no previous champion" in result.output

    # Two concurrent promotions: exactly one champion, both decisions recorded.
    decisions = {}

    def run(version):
        decisions[version] = promote_version(cfg, version, splits_dir)

    threads = [threading.Thread(target=run, args=(v,)) for v in (strong, clone)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdicts = sorted(d["decision"] for d in decisions.values())
    assert verdicts == ["HOLD", "PROMOTE"]
    winner = next(v for v, d in decisions.items() if d["decision"] == "PROMOTE")
    assert registry.alias_version(cfg) == winner
    assert _decision_tag(cfg, strong) in ("PROMOTE", "HOLD")
    assert _decision_tag(cfg, clone) in ("PROMOTE", "HOLD")
    assert read_history(cfg)[-1] == winner
