"""Split: stratified, seeded, order-independent, verifiable; one-class data refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from imdbops.mlops.split import SplitError, load_split, split_file, tconst_md5


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


def test_split_is_stratified_disjoint_and_verifiable(cfg, tmp_path):
    src = tmp_path / "processed.parquet"
    frame = _processed()
    frame.to_parquet(src)
    meta = split_file(cfg, src, tmp_path / "splits")

    parts = {n: load_split(tmp_path / "splits", n)[0] for n in ("train", "val", "test")}
    ids = {n: set(p["tconst"]) for n, p in parts.items()}
    assert not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert not ids["train"] & ids["val"]
    assert sum(len(v) for v in ids.values()) == len(frame)
    assert meta["splits"]["test"]["rows"] == pytest.approx(0.15 * len(frame), abs=2)
    overall = frame["label"].mean()
    for name, part in parts.items():
        assert part["label"].mean() == pytest.approx(overall, abs=0.03), name
        listed = (tmp_path / "splits" / f"{name}_tconst.txt").read_text().split()
        assert tconst_md5(listed) == meta["splits"][name]["tconst_md5"]
    assert json.loads((tmp_path / "splits" / "split.json").read_text()) == meta


def test_split_ignores_input_row_order(cfg, tmp_path):
    frame = _processed()
    frame.to_parquet(tmp_path / "a.parquet")
    frame.sample(frac=1.0, random_state=7).to_parquet(tmp_path / "b.parquet")
    a = split_file(cfg, tmp_path / "a.parquet", tmp_path / "sa")
    b = split_file(cfg, tmp_path / "b.parquet", tmp_path / "sb")
    assert a["split_md5"] == b["split_md5"]


def test_split_changes_with_seed(cfg, tmp_path):
    _processed().to_parquet(tmp_path / "p.parquet")
    first = split_file(cfg, tmp_path / "p.parquet", tmp_path / "s1")
    cfg.training.seed = 7
    second = split_file(cfg, tmp_path / "p.parquet", tmp_path / "s2")
    assert first["test_md5"] != second["test_md5"]


def test_one_class_dataset_is_refused(cfg, tmp_path):
    frame = _processed()
    frame["label"] = 1
    frame.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(SplitError, match="one class only"):
        split_file(cfg, tmp_path / "p.parquet", tmp_path / "s")
    assert not (tmp_path / "s" / "split.json").exists()


def test_duplicate_tconst_is_refused(cfg, tmp_path):
    frame = _processed()
    frame.loc[5, "tconst"] = frame.loc[6, "tconst"]
    frame.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(SplitError, match="more than once"):
        split_file(cfg, tmp_path / "p.parquet", tmp_path / "s")


def test_missing_processed_file_names_the_step(cfg, tmp_path):
    with pytest.raises(FileNotFoundError, match="run transform"):
        split_file(cfg, tmp_path / "nope.parquet", tmp_path / "s")
