"""The promotion gate over time: growing snapshots, real train/evaluate/register/promote steps
against a real MLflow store, and a champion whose training rows are planted in the test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from integration.mlops.conftest import bundled_as_raw_extract

from imdbops.mlops import registry
from imdbops.mlops.bootstrap import metric_fn
from imdbops.mlops.evaluate import evaluate
from imdbops.mlops.models import get_spec
from imdbops.mlops.promote import promote_version
from imdbops.mlops.register_step import register
from imdbops.mlops.split import load_split, read_split_meta, split_file
from imdbops.mlops.train import train
from imdbops.mlops.transform_step import transform_file
from imdbops.orchestrator.catalog import Location
from imdbops.pipelines.contract import folder

pytestmark = pytest.mark.slow


def _ids(splits: Location, name: str) -> set[str]:
    return set(splits.file(f"{name}_ids").read_text().split())


def _cycle(cfg, raw: pd.DataFrame, root: Path) -> tuple[Location, str]:
    """One retraining on ``raw``: the pipeline's own steps, a fast model."""
    root.mkdir(parents=True)
    raw_csv = root / "movies.csv"
    raw.to_csv(raw_csv, index=False)
    processed = transform_file(cfg, raw_csv, root / "movies.parquet")
    splits = folder("splits", root / "splits")
    model, evaluation = folder("model", root / "model"), folder("evaluation", root / "eval")
    split_file(cfg, processed, splits)
    train(cfg, splits, None, model, raw_csv=raw_csv)
    evaluate(cfg, model, splits, evaluation)
    version = register(cfg, model, evaluation, splits_dir=splits).version
    return splits, version


@pytest.fixture
def fast(cfg):
    cfg.training.model = "logreg"
    cfg.training.bootstrap_samples = 300
    cfg.training.min_margin_over_baseline = 0.02
    return cfg


def test_growing_snapshots_judge_each_version_on_unseen_movies(fast, tmp_path):
    cfg = fast
    movies = bundled_as_raw_extract(4500, seed=3)
    sizes = (1500, 3000, 4500)  # each snapshot adds movies of the same distribution
    seen_before: set[str] = set()
    history = []
    for k, n in enumerate(sizes):
        splits, version = _cycle(cfg, movies.iloc[:n], tmp_path / f"s{k}")
        test = _ids(splits, "test")
        # No test title of this version was trained or tuned on by any earlier version.
        assert not test & seen_before, f"snapshot {k}: {len(test & seen_before)} leaked"
        champion = registry.alias_version(cfg)
        decision = promote_version(cfg, version, splits)
        history.append((version, decision["decision"], registry.alias_version(cfg)))
        if champion is None:
            assert decision["decision"] == "PROMOTE", decision["reason"]
        else:
            # Never rejected for "regressing" against a champion scored on its own rows.
            assert decision["decision"] in ("PROMOTE", "HOLD"), decision["reason"]
            champ_seen = _ids_of_version(cfg, champion)
            own_seen = _ids(splits, "train") | _ids(splits, "val")
            assert decision["compared_rows"] == len(test - champ_seen - own_seen)
            assert decision["excluded_seen_by_champion"] == len(test & champ_seen) == 0
            assert f"on {decision['compared_rows']} common unseen" in decision["reason"]
        seen_before |= _ids(splits, "train") | _ids(splits, "val")
    assert history[0][1] == "PROMOTE"
    assert any(d == "PROMOTE" for _, d, _ in history[1:]), history


def _ids_of_version(cfg, version: str) -> set[str]:
    from imdbops.mlops.membership import logged_seen

    run_id = registry.get_client(cfg).get_model_version(cfg.tracking.model_name, version).run_id
    seen = logged_seen(cfg, run_id)
    assert seen is not None
    return seen


def test_a_champion_is_never_scored_on_movies_it_trained_on(fast, tmp_path):
    """Plant the overlap: the champion comes from a split drawn with another seed, so a
    good part of today's test split is its training data. The gate drops those rows."""
    cfg = fast
    raw = bundled_as_raw_extract(3000, seed=5)
    cfg.training.seed = 7
    old_splits, champion = _cycle(cfg, raw, tmp_path / "old")
    assert promote_version(cfg, champion, old_splits)["decision"] == "PROMOTE"
    cfg.training.seed = 42
    splits, challenger = _cycle(cfg, raw, tmp_path / "new")

    test_frame, X_test, y_test = load_split(splits, "test")
    planted = _ids(splits, "test") & (_ids(old_splits, "train") | _ids(old_splits, "val"))
    assert len(planted) > 0.7 * len(test_frame)  # most of today's test set: seen by the champion
    cfg.training.min_compare_rows = 50

    decision = promote_version(cfg, challenger, splits)
    assert decision["champion_membership"].startswith("the split lists logged by run")
    assert decision["excluded_seen_by_champion"] == len(planted)
    assert decision["compared_rows"] == len(test_frame) - len(planted)
    assert f"on {decision['compared_rows']} common unseen test rows" in decision["reason"]

    # Recomputed here: the champion's score is over exactly the rows it never saw.
    common = ~test_frame["tconst"].isin(planted).to_numpy()
    champ_model = registry.load_version(cfg, champion).model
    p = champ_model.predict_proba(X_test)[:, 1]
    expected = metric_fn("roc_auc")(y_test[common], p[common])
    assert decision["champion_score"] == pytest.approx(expected)
    on_all = metric_fn("roc_auc")(y_test, p)
    assert on_all > expected  # what the old gate compared against: inflated by memory

    # Too little common ground: HOLD with the count, nothing moves.
    cfg.training.min_compare_rows = int(common.sum()) + 1
    held = promote_version(cfg, challenger, splits)
    assert held["decision"] == "HOLD" and f"only {int(common.sum())}" in held["reason"]
    assert registry.alias_version(cfg) in (champion, challenger)


def test_out_of_time_holdout_reported_beside_the_random_one(fast, tmp_path):
    cfg = fast
    cfg.training.out_of_time_years = 5
    raw = bundled_as_raw_extract(3000, seed=9)
    splits, first = _cycle(cfg, raw, tmp_path / "a")
    metrics = registry.load_version(cfg, first).metrics  # what evaluate logged
    assert metrics["oot_rows"] > 0 and 0 < metrics["oot_roc_auc"] < 1
    assert metrics["test_rows"] + metrics["oot_rows"] == len(_ids(splits, "test"))
    promote_version(cfg, first, splits)

    # A second version fitted on the same split (membership: the same split_md5).
    spec = get_spec("logreg")
    _, X_train, y_train = load_split(splits, "train")
    model = spec.fit(spec.build({"C": 0.5}, 0), X_train, y_train)
    tags = {"split_md5": read_split_meta(splits)["split_md5"], "model_kind": "logreg"}
    second = registry.log_model_version(cfg, model, metrics={}, params={}, tags=tags).version

    cfg.training.gate_holdout = "time"
    cfg.training.min_compare_rows = 50
    decision = promote_version(cfg, second, splits)
    assert decision["holdout"] == "time" and decision["challenger_membership"].startswith(
        "the current split"
    )
    assert set(decision["holdouts"]) == {"random", "time"}
    assert decision["compared_rows"] == decision["holdouts"]["time"]["rows"]
    assert decision["holdouts"]["time"]["rows"] == int(metrics["oot_rows"])
    assert decision["holdouts"]["random"]["rows"] == int(metrics["test_rows"])
    assert np.isfinite(decision["holdouts"]["random"]["champion"])
