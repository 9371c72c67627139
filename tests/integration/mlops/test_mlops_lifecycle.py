"""Train -> evaluate -> register on 3,000 real movies, against a real MLflow SQLite store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from imdbops.mlops import registry
from imdbops.mlops.evaluate import evaluate
from imdbops.mlops.models import get_spec
from imdbops.mlops.register_step import register
from imdbops.mlops.split import load_split
from imdbops.mlops.tracking import git_commit
from imdbops.mlops.train import load_model, train
from imdbops.mlops.transform import to_model_frame
from imdbops.movies import MODEL_INPUT_COLUMNS
from imdbops.pipelines.contract import folder

pytestmark = pytest.mark.slow


def test_train_evaluate_register_with_lineage_and_identical_reload(cfg, splits_dir):
    cfg.training.model = "logreg"
    model_dir, eval_dir = cfg.paths.runs_dir / "model", cfg.paths.runs_dir / "eval"
    model_loc, eval_loc = folder("model", model_dir), folder("evaluation", eval_dir)
    info = train(cfg, splits_dir, None, model_loc)
    # the code's commit (the source tree or $GIT_COMMIT), never the data folder's
    assert info["model_kind"] == "logreg" and info["git_commit"] == git_commit()

    metrics = evaluate(cfg, model_loc, splits_dir, eval_loc)
    assert metrics["baseline_majority_roc_auc"] == pytest.approx(0.5)
    assert metrics["test_roc_auc"] > metrics["baseline_majority_roc_auc"] + 0.05
    assert {"baseline_logreg_roc_auc", "test_brier", "test_pr_auc"} <= set(metrics)
    # Scored again with year/runtime blanked, like the baselines; logreg never reads them.
    assert metrics["title_genres_roc_auc"] == pytest.approx(metrics["test_roc_auc"])
    assert metrics["check_case_invariance_passed"] == 1.0
    assert metrics["check_genre_combinations_passed"] == 1.0
    for plot in ("roc", "precision_recall", "confusion_matrix", "calibration"):
        assert (eval_dir / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((eval_dir / "report.json").read_text())
    assert "Drama" in report["per_genre"] and report["confusion_matrix"]["matrix"]

    version = register(cfg, model_loc, eval_loc, splits_dir=splits_dir)
    assert json.loads((model_dir / "registered.json").read_text())["version"] == version.version
    for tag in ("data_md5", "git_commit", "trained_at", "model_kind", "split_md5"):
        assert version.tags[tag], tag
    split_meta = json.loads(splits_dir.file("meta").read_text())
    assert version.tags["split_md5"] == split_meta["split_md5"]
    # The genres it learnt, counted on the training split the train step logged (issue 20).
    from imdbops.mlops import vocabulary

    learnt = vocabulary.from_tag(version.tags[vocabulary.VOCABULARY_TAG])
    train_rows, _, _ = load_split(splits_dir, "train")
    assert learnt.genres == vocabulary.from_frame(train_rows).genres
    assert learnt.rows == len(train_rows)
    assert len(version.tags["artifact_sha256"]) == 64

    # Nothing is champion until promote says so.
    assert registry.load_champion(cfg) is None
    registry.set_alias(cfg, version.version)
    loaded = registry.load_champion(cfg)
    assert loaded.version == version.version and loaded.alias == "champion"
    assert loaded.metrics["test_roc_auc"] == pytest.approx(metrics["test_roc_auc"])
    assert loaded.params["C"] == str(get_spec("logreg").default_params["C"])

    # Same probabilities from the registry as from the in-memory model...
    test, X_test, _ = load_split(splits_dir, "test")
    in_memory = load_model(model_loc)
    np.testing.assert_array_equal(
        loaded.model.predict_proba(X_test), in_memory.predict_proba(X_test)
    )
    # ...and the serving input path builds the very frame training used.
    items = [
        {
            "title": r.title,
            "genres": r.genres.split(",") if r.genres else [],
            "year": None if pd.isna(r.year) else int(r.year),
            "runtime_minutes": None if pd.isna(r.runtime_minutes) else int(r.runtime_minutes),
        }
        for r in test.head(50).itertuples()
    ]
    pd.testing.assert_frame_equal(
        to_model_frame(items), X_test.head(50)[MODEL_INPUT_COLUMNS].reset_index(drop=True)
    )
    np.testing.assert_array_equal(
        loaded.model.predict_proba(to_model_frame(items)), in_memory.predict_proba(X_test.head(50))
    )

    with registry.artifact_file(cfg, version.version, "reference_profile.json") as profile:
        assert json.loads(profile.read_text())
    assert not profile.exists()
    with pytest.raises(FileNotFoundError, match="nope.json"):
        with registry.artifact_file(cfg, version.version, "nope.json"):
            pass
    downloads = cfg.paths.cache_dir / "registry"
    assert list(downloads.iterdir()) == [], "loads and artifact reads leave no download behind"

    listed = registry.list_versions(cfg)
    assert listed[0]["version"] == version.version and listed[0]["aliases"] == ["champion"]


def test_tampered_artifact_is_refused(cfg, splits_dir):
    from sklearn.dummy import DummyClassifier

    _, X_val, y_val = load_split(splits_dir, "val")
    model = DummyClassifier(strategy="prior").fit(X_val[["year"]].fillna(0), y_val)
    version = registry.log_model_version(cfg, model, metrics={}, params={}, tags={})
    registry.set_alias(cfg, version.version)
    stored = list(cfg.tracking.artifact_dir.rglob("model.skops")) + list(
        cfg.tracking.artifact_dir.rglob("model.pkl")
    )
    assert len(stored) == 1
    stored[0].write_bytes(stored[0].read_bytes() + b"tampered")
    with pytest.raises(registry.ModelIntegrityError, match=version.tags["artifact_sha256"]):
        registry.load_champion(cfg)


def test_the_registered_skops_file_is_deflated_and_loads(cfg, splits_dir):
    # MLflow writes skops files stored (uncompressed): 32 MB for the bundled champion where
    # deflate gives 0.95 MB. The register step deflates them and leaves skops as it was.
    import zipfile

    import skops.io
    from sklearn.linear_model import LogisticRegression

    dump_before = skops.io.dump
    _, X_val, y_val = load_split(splits_dir, "val")
    features = X_val[["year"]].fillna(0)
    model = LogisticRegression().fit(features, y_val)
    version = registry.log_model_version(cfg, model, metrics={}, params={}, tags={})
    assert skops.io.dump is dump_before
    (stored,) = cfg.tracking.artifact_dir.rglob("model.skops")
    with zipfile.ZipFile(stored) as archive:
        kinds = {info.compress_type for info in archive.infolist()}
    assert kinds == {zipfile.ZIP_DEFLATED}
    registry.set_alias(cfg, version.version)
    loaded = registry.load_champion(cfg)
    assert (loaded.model.predict_proba(features) == model.predict_proba(features)).all()
