"""Task ``transform``: raw extract CSV (``data/raw/movies.csv``) -> processed parquet."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from imdbops.atomic import atomic_path
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.transform import transform_movies
from imdbops.movies import RAW_EXTRACT_COLUMNS, RAW_NUMBER_COLUMNS, RAW_TEXT_COLUMNS

log = get_logger("mlops.transform")


class RawDataError(ValueError):
    """The raw extract is not in the raw-extract shape (see docs/design.md)."""


def read_raw_csv(path: Path) -> pd.DataFrame:
    """Read the raw extract CSV with the contract's dtypes; a clear error when it does not fit."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"raw extract {path} does not exist; run the extract and load steps first"
        )
    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in RAW_EXTRACT_COLUMNS if c not in header]
    if missing:
        raise RawDataError(
            f"{path}: missing column(s) {missing}; the raw extract needs "
            f"{list(RAW_EXTRACT_COLUMNS)}"
        )
    try:
        # keep_default_na off for text: a movie called "NA" or "None" is a real title.
        frame = pd.read_csv(
            path,
            dtype={c: "string" for c in RAW_TEXT_COLUMNS},
            keep_default_na=False,
            na_values={c: ["", "\\N"] for c in RAW_NUMBER_COLUMNS},
        )
        frame = frame.astype({c: RAW_EXTRACT_COLUMNS[c] for c in RAW_NUMBER_COLUMNS})
    except (ValueError, TypeError) as exc:
        raise RawDataError(f"{path}: a column does not have the expected type ({exc})") from None
    if frame.empty:
        raise RawDataError(f"{path} has no rows; the extract returned nothing to train on")
    bad = frame["averageRating"].isna() | frame["tconst"].isna()
    if bad.any():
        raise RawDataError(
            f"{path}: {int(bad.sum())} row(s) without tconst or averageRating "
            f"(first: row {int(bad.idxmax()) + 2}); validate_raw should have caught these"
        )
    return frame


def transform_file(cfg: Config, raw_csv: Path, out_path: Path) -> Path:
    """Raw extract CSV -> processed parquet (tconst, title, text, genres, year, ..., label)."""
    started = time.perf_counter()
    raw = read_raw_csv(raw_csv)
    processed = transform_movies(raw)
    with atomic_path(out_path) as tmp:
        processed.to_parquet(tmp, index=False)
    log.info(
        "transformed %d rows -> %s in %.1fs (positive rate %.3f)",
        len(processed),
        out_path,
        time.perf_counter() - started,
        float(processed["label"].mean()),
    )
    return Path(out_path)
