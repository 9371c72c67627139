"""Raw and processed data contracts: every bad dataset halts with a report naming the problem."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from imdbops.dataops.distribution import accepted_path
from imdbops.dataops.schemas import (
    DataValidationError,
    validate_processed,
    validate_processed_file,
    validate_raw,
    validate_raw_file,
)
from imdbops.mlops.transform import transform_movies

GENRES = ["Drama", "Comedy", "Action,Drama", "", "Horror,Thriller", "Documentary"]


def good_raw(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tconst": [f"tt{i:07d}" for i in range(1, n + 1)],
            "primaryTitle": [f"Movie number {i}" for i in range(n)],
            "genres": [GENRES[i % len(GENRES)] for i in range(n)],
            "startYear": pd.array(rng.integers(1920, 2024, n), dtype="Int64"),
            "runtimeMinutes": pd.array(rng.integers(60, 180, n), dtype="Int64"),
            "averageRating": np.round(rng.uniform(1.5, 9.5, n), 1),
            "numVotes": pd.array(rng.integers(0, 10_000, n), dtype="Int64"),
        }
    )


def _set(col, values):
    def mutate(df):
        df = df.copy()
        df[col] = values(df) if callable(values) else values
        return df

    return mutate


def _string_ratings(df):
    df = df.copy()
    df["averageRating"] = df["averageRating"].astype(str)
    df.loc[3, "averageRating"] = "eight"
    return df


def _rows(idx, col, value):
    def mutate(df):
        df = df.copy()
        df.loc[idx, col] = value
        return df

    return mutate


BAD = {
    "wrong column names": (
        lambda df: df.rename(columns={"primaryTitle": "title", "averageRating": "rating"}),
        [("primaryTitle", "column_missing"), ("title", "column_unexpected")],
    ),
    "missing column": (lambda df: df.drop(columns=["numVotes"]), [("numVotes", "column_missing")]),
    "string ratings": (_string_ratings, [("averageRating", "dtype")]),
    "ratings of 0 and 11": (
        lambda df: _rows(1, "averageRating", 11.0)(_rows(0, "averageRating", 0.0)(df)),
        [("averageRating", "rating_between_1_and_10")],
    ),
    "duplicate tconst": (_rows(5, "tconst", "tt0000001"), [("tconst", "unique")]),
    "empty titles": (_rows([2, 4], "primaryTitle", "  "), [("primaryTitle", "non_empty_title")]),
    "unknown genres": (
        _rows(7, "genres", "Drama,Spaghetti"),
        [("genres", "in_imdb_genre_vocabulary")],
    ),
    "empty table": (lambda df: df.iloc[:0], [("<table>", "not_empty")]),
    "50% null genres": (
        _set("genres", lambda df: [None if i % 2 else "Drama" for i in range(len(df))]),
        [("genres", "null_rate")],
    ),
    "malformed ids": (_rows(3, "tconst", "nm0000003"), [("tconst", "imdb_id_format")]),
    "implausible years": (_rows(3, "startYear", 1700), [("startYear", "plausible_year")]),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_raw_dataset_halts_with_report_naming_the_problem(cfg, case):
    mutate, expected = BAD[case]
    with pytest.raises(DataValidationError) as info:
        validate_raw(mutate(good_raw()), cfg)
    report_path = info.value.report_path
    assert report_path == cfg.paths.reports_dir / "validation" / "raw.json"
    report = json.loads(report_path.read_text())
    assert report["ok"] is False
    found = {(f["column"], f["check"]) for f in report["failures"]}
    for pair in expected:
        assert pair in found, f"{pair} not in {found}"
    for f in report["failures"]:
        assert len(f["examples"]) <= cfg.validation.max_examples
    text = (report_path.parent / "raw.txt").read_text()
    html = (report_path.parent / "raw.html").read_text()
    assert "FAILED" in text and expected[0][1] in text and expected[0][1] in html
    assert expected[0][0] in str(info.value)
    assert not accepted_path(cfg, "raw").exists(), "a failing dataset must not become accepted"


def test_failures_carry_example_rows(cfg):
    df = good_raw()
    for i in range(8):
        df.loc[i, "averageRating"] = 12.0
    result = validate_raw(df, cfg, raise_on_error=False)
    (failure,) = [f for f in result.failures if f.check == "rating_between_1_and_10"]
    assert failure.count == 8
    assert len(failure.examples) == 5
    assert failure.examples[0]["averageRating"] == 12.0
    assert failure.examples[0]["tconst"] == "tt0000001"


def test_lazy_validation_collects_every_failure(cfg):
    df = _rows(5, "tconst", "tt0000001")(_rows(2, "primaryTitle", "")(good_raw()))
    df.loc[9, "averageRating"] = 0.5
    result = validate_raw(df, cfg, raise_on_error=False)
    checks = {f.check for f in result.failures}
    assert {"unique", "non_empty_title", "rating_between_1_and_10"} <= checks


def test_good_dataset_passes_and_becomes_accepted(cfg):
    result = validate_raw(good_raw(), cfg)
    assert result.ok and result.n_rows == 60
    stored = json.loads(accepted_path(cfg, "raw").read_text())
    assert stored["n_rows"] == 60
    assert json.loads(result.report_path.read_text())["ok"] is True


def test_distribution_warns_then_fails_against_accepted(cfg):
    validate_raw(good_raw(100), cfg)
    warned = validate_raw(good_raw(80), cfg)  # 20% fewer rows: above warn (10%), below fail
    assert warned.ok
    assert [w.check for w in warned.warnings] == ["row_count_change"]
    with pytest.raises(DataValidationError) as info:
        validate_raw(good_raw(30), cfg)  # 62% fewer than the accepted 80
    assert ("<table>", "row_count_change") in {
        (f.column, f.check) for f in info.value.result.failures
    }
    assert json.loads(accepted_path(cfg, "raw").read_text())["n_rows"] == 80


def test_label_balance_shift_fails(cfg):
    validate_raw(good_raw(100), cfg)
    shifted = good_raw(100)
    shifted["averageRating"] = 8.0  # everyone likes everything now
    with pytest.raises(DataValidationError) as info:
        validate_raw(shifted, cfg)
    assert "label_balance_shift" in {f.check for f in info.value.result.failures}


def test_csv_with_string_ratings_gives_report_not_traceback(cfg, tmp_path):
    df = good_raw()
    df["averageRating"] = df["averageRating"].astype(str)
    df.loc[0, "averageRating"] = "n/a-ish"
    path = tmp_path / "extract.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as info:
        validate_raw_file(cfg, path)
    assert "averageRating: dtype" in str(info.value)
    (failure,) = [f for f in info.value.result.failures if f.check == "dtype"]
    assert failure.examples[0]["averageRating"] == "n/a-ish"


def test_parquet_and_csv_roundtrip_pass(cfg, tmp_path):
    df = good_raw()
    df.loc[0, "startYear"] = pd.NA  # nullable ints survive CSV as floats and are accepted
    df.to_parquet(tmp_path / "extract.parquet")
    assert validate_raw_file(cfg, tmp_path / "extract.parquet").ok
    df.to_csv(tmp_path / "movies.csv", index=False)
    assert validate_raw_file(cfg, tmp_path / "movies.csv").ok


def test_unreadable_file_gives_report(cfg, tmp_path):
    path = tmp_path / "extract.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(DataValidationError) as info:
        validate_raw_file(cfg, path)
    assert info.value.result.failures[0].check == "readable"
    assert info.value.report_path.exists()


def test_processed_contract(cfg, tmp_path):
    processed = transform_movies(good_raw())
    assert validate_processed(processed, cfg).ok
    bad = processed.copy()
    bad.loc[0, "label"] = 2
    bad.loc[1, "text"] = ""
    bad.loc[2, "genres"] = None
    bad.to_parquet(tmp_path / "processed.parquet")
    with pytest.raises(DataValidationError) as info:
        validate_processed_file(cfg, tmp_path / "processed.parquet")
    found = {(f.column, f.check) for f in info.value.result.failures}
    assert {("label", "label_is_0_or_1"), ("text", "non_empty_text")} <= found
    assert ("genres", "not_nullable") in found
    assert (cfg.paths.reports_dir / "validation" / "processed.html").exists()


def test_with_an_artifact_store_the_baseline_is_shared_across_machines(tmp_path):
    """Machine B (another folder) compares against what machine A accepted."""
    from imdbops.config import load_config

    store = tmp_path / "store"
    a = load_config(paths={"root": tmp_path / "a", "artifacts_url": str(store)})
    b = load_config(paths={"root": tmp_path / "b", "artifacts_url": str(store)})
    validate_raw(good_raw(100), a)
    assert json.loads((store / "accepted" / "raw.json").read_text())["n_rows"] == 100
    assert not accepted_path(a, "raw").exists()
    with pytest.raises(DataValidationError) as info:
        validate_raw(good_raw(30), b)  # 70% fewer rows than A's accepted 100
    assert "row_count_change" in {f.check for f in info.value.result.failures}
