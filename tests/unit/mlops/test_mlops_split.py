"""Split: hash membership (stable as data grows), seeded, verifiable; unusable data refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from imdbops.artifact_names import FOLDER_FILES
from imdbops.mlops.split import SplitError, load_split, split_file, tconst_md5
from imdbops.pipelines.contract import folder


def _processed(n: int = 400, positive_rate: float = 0.6, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tconst": [f"tt{i:07d}" for i in range(n)],
            "title": [f"Movie {i}" for i in range(n)],
            "text": [f"movie {i}" for i in range(n)],
            "genres": rng.choice(["Drama", "Comedy", "Action,Drama", ""], size=n),
            "year": rng.integers(1950, 2020, size=n).astype(float),
            "runtime_minutes": np.where(rng.random(n) < 0.2, np.nan, 95.0),
            "label": (rng.random(n) < positive_rate).astype(int),
        }
    )


def _within_binomial(observed: float, expected: float, n: int, p: float) -> bool:
    # Four standard errors: what a hash split's parts may stray from, never a forced balance.
    return abs(observed - expected) <= 4 * (p * (1 - p) / n) ** 0.5


def test_split_is_disjoint_balanced_and_verifiable(cfg, tmp_path):
    src = tmp_path / "processed.parquet"
    frame = _processed(n=4000)
    frame.to_parquet(src)
    splits = folder("splits", tmp_path / "splits")
    meta = split_file(cfg, src, splits)

    parts = {n: load_split(splits, n)[0] for n in ("train", "val", "test")}
    ids = {n: set(p["tconst"]) for n, p in parts.items()}
    assert not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert not ids["train"] & ids["val"]
    assert sum(len(v) for v in ids.values()) == len(frame)
    assert meta["membership"] == "hash" and meta["out_of_time"] is None
    overall = frame["label"].mean()
    for name, part in parts.items():
        share = {"train": 0.7, "val": 0.15, "test": 0.15}[name]
        assert _within_binomial(len(part) / len(frame), share, len(frame), share), name
        assert _within_binomial(part["label"].mean(), overall, len(part), overall), name
        listed = splits.file(f"{name}_ids").read_text().split()
        assert tconst_md5(listed) == meta["splits"][name]["tconst_md5"]
    assert json.loads(splits.file("meta").read_text()) == meta
    # Every file is where the catalog names it, and only there.
    assert sorted(p.name for p in splits.path.iterdir()) == sorted(FOLDER_FILES["splits"].values())


def test_a_bare_folder_path_is_refused_naming_the_fix(cfg, tmp_path):
    _processed().to_parquet(tmp_path / "p.parquet")
    with pytest.raises(TypeError, match=r"bare path.*pipelines\.contract\.folder"):
        split_file(cfg, tmp_path / "p.parquet", tmp_path / "s")
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def test_membership_never_moves_as_the_data_grows_or_changes(cfg, tmp_path):
    """A movie's part depends on its id, the seed and the fractions only: a snapshot that
    adds movies, drops some and changes ratings (labels) moves no movie between parts."""
    small = _processed(n=1500, seed=1)
    grown = pd.concat([small.iloc[100:], _processed(n=3000, seed=2).iloc[1500:]])
    grown["label"] = 1 - grown["label"]  # every rating moved across the threshold
    small.to_parquet(tmp_path / "small.parquet")
    grown.to_parquet(tmp_path / "grown.parquet")
    s1, s2 = folder("splits", tmp_path / "s1"), folder("splits", tmp_path / "s2")
    split_file(cfg, tmp_path / "small.parquet", s1)
    split_file(cfg, tmp_path / "grown.parquet", s2)

    def where(splits):
        return {
            t: name
            for name in ("train", "val", "test")
            for t in splits.file(f"{name}_ids").read_text().split()
        }

    before, after = where(s1), where(s2)
    common = before.keys() & after.keys()
    assert len(common) == 1400
    assert all(before[t] == after[t] for t in common)
    # What used to happen with a re-drawn random split: most test movies moved.
    assert {before[t] for t in common} == {"train", "val", "test"}


def test_out_of_time_holdout_keeps_the_newest_years_out_of_training(cfg, tmp_path):
    from imdbops.mlops.split import holdout_masks, read_split_meta

    frame = _processed(n=3000)
    frame.loc[:9, "year"] = np.nan  # a title with no year is never out-of-time
    frame.to_parquet(tmp_path / "p.parquet")
    cfg.training.out_of_time_years = 3
    splits = folder("splits", tmp_path / "s")
    meta = split_file(cfg, tmp_path / "p.parquet", splits)
    newest = int(frame["year"].max())
    assert meta["out_of_time"]["from_year"] == newest - 2
    train, _, _ = load_split(splits, "train")
    val, _, _ = load_split(splits, "val")
    test, _, _ = load_split(splits, "test")
    assert train["year"].max() < newest - 2 and val["year"].max() < newest - 2
    recent = frame[frame["year"] >= newest - 2]
    assert set(recent["tconst"]) <= set(test["tconst"])
    masks = holdout_masks(test, read_split_meta(splits))
    assert masks["time"].sum() == len(recent) == meta["out_of_time"]["rows"]
    assert (masks["random"] ^ masks["time"]).all()
    assert not test.loc[masks["random"], "year"].ge(newest - 2).any()


def test_time_gate_without_a_time_holdout_is_a_config_error():
    from pydantic import ValidationError

    from imdbops.config import TrainingConfig

    with pytest.raises(ValidationError, match="out_of_time_years"):
        TrainingConfig(gate_holdout="time")
    assert TrainingConfig(gate_holdout="time", out_of_time_years=2).gate_holdout == "time"


def test_a_part_without_both_classes_is_refused(cfg, tmp_path):
    frame = _processed(n=12)
    frame["label"] = [1, 0] * 6
    frame.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(SplitError, match="not both classes"):
        split_file(cfg, tmp_path / "p.parquet", folder("splits", tmp_path / "s"))


def test_split_ignores_input_row_order(cfg, tmp_path):
    frame = _processed()
    frame.to_parquet(tmp_path / "a.parquet")
    frame.sample(frac=1.0, random_state=7).to_parquet(tmp_path / "b.parquet")
    a = split_file(cfg, tmp_path / "a.parquet", folder("splits", tmp_path / "sa"))
    b = split_file(cfg, tmp_path / "b.parquet", folder("splits", tmp_path / "sb"))
    assert a["split_md5"] == b["split_md5"]


def test_split_changes_with_seed(cfg, tmp_path):
    _processed().to_parquet(tmp_path / "p.parquet")
    first = split_file(cfg, tmp_path / "p.parquet", folder("splits", tmp_path / "s1"))
    cfg.training.seed = 7
    second = split_file(cfg, tmp_path / "p.parquet", folder("splits", tmp_path / "s2"))
    assert first["test_md5"] != second["test_md5"]


def test_one_class_dataset_is_refused(cfg, tmp_path):
    frame = _processed()
    frame["label"] = 1
    frame.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(SplitError, match="one class only"):
        split_file(cfg, tmp_path / "p.parquet", folder("splits", tmp_path / "s"))
    assert not (tmp_path / "s" / "split.json").exists()


def test_duplicate_tconst_is_refused(cfg, tmp_path):
    frame = _processed()
    frame.loc[5, "tconst"] = frame.loc[6, "tconst"]
    frame.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(SplitError, match="more than once"):
        split_file(cfg, tmp_path / "p.parquet", folder("splits", tmp_path / "s"))


def test_missing_processed_file_names_the_step(cfg, tmp_path):
    with pytest.raises(FileNotFoundError, match="run transform"):
        split_file(cfg, tmp_path / "nope.parquet", folder("splits", tmp_path / "s"))
