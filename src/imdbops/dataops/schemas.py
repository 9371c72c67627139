"""Data contracts for the raw extract and the processed dataset, checked with pandera.

Validation is lazy (every failure is collected) and always writes a report to
``<reports_dir>/validation/<name>.{json,txt,html}``. On failure it raises
``DataValidationError`` carrying the report path, so the pipeline stops before anything
downstream (load, version, push, train) runs. Missing columns, wrong dtypes and unreadable
files produce a report too, never a bare traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from imdbops import clock
from imdbops.dataops.distribution import compare, dataset_stats, load_accepted, save_accepted
from imdbops.dataops.validation_report import (
    TABLE,
    DataValidationError,
    Failure,
    ValidationResult,
    failures_from_pandera,
    write_report,
)
from imdbops.genres import IMDB_GENRES
from imdbops.log import get_logger
from imdbops.movies import NUMERIC_INPUTS, PROCESSED_COLUMNS, RAW_EXTRACT_COLUMNS

__all__ = [
    "DataValidationError",
    "ValidationResult",
    "processed_schema",
    "raw_schema",
    "read_table",
    "validate_processed",
    "validate_processed_file",
    "validate_raw",
    "validate_raw_file",
]

log = get_logger(__name__)
_RAW_INT = tuple(c for c, dtype in RAW_EXTRACT_COLUMNS.items() if dtype == "Int64")
_GENRES = frozenset(IMDB_GENRES)
FIRST_FILM_YEAR = 1870


def _non_empty(s: pd.Series) -> pd.Series:
    return s.astype(str).str.strip().str.len() > 0


def _known_genres(value: Any) -> bool:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return True  # nulls are the null-rate check's business
    parts = [p.strip() for p in str(value).split(",") if p.strip()]
    return all(p in _GENRES for p in parts)


def _genre_check() -> pa.Check:
    return pa.Check(
        _known_genres,
        element_wise=True,
        name="in_imdb_genre_vocabulary",
    )


def _columns(contract: dict[str, str], specs: dict[str, dict[str, Any]]) -> dict[str, pa.Column]:
    """pandera columns with the dtypes of an ``imdbops.movies`` contract plus our checks."""
    return {
        name: pa.Column(str if dtype == "str" else dtype, **specs.get(name, {}))
        for name, dtype in contract.items()
    }


def raw_schema() -> pa.DataFrameSchema:
    max_year = clock.today().year + 5
    checks = {
        "tconst": {
            "checks": pa.Check.str_matches(r"^tt\d{7,}$", name="imdb_id_format"),
            "unique": True,
        },
        "primaryTitle": {"checks": pa.Check(_non_empty, name="non_empty_title")},
        "genres": {"checks": _genre_check(), "nullable": True},
        "startYear": {
            "checks": pa.Check.in_range(FIRST_FILM_YEAR, max_year, name="plausible_year"),
            "nullable": True,
        },
        "runtimeMinutes": {"checks": pa.Check.gt(0, name="positive_runtime"), "nullable": True},
        "averageRating": {"checks": pa.Check.in_range(1.0, 10.0, name="rating_between_1_and_10")},
        "numVotes": {"checks": pa.Check.ge(0, name="non_negative_votes")},
    }
    return pa.DataFrameSchema(
        _columns(RAW_EXTRACT_COLUMNS, checks), strict=True, name="raw_extract"
    )


def processed_schema() -> pa.DataFrameSchema:
    checks = {
        "tconst": {"unique": True},
        "text": {"checks": pa.Check(_non_empty, name="non_empty_text")},
        "genres": {"checks": _genre_check()},
        **{name: {"nullable": True} for name in NUMERIC_INPUTS},
        "label": {"checks": pa.Check.isin([0, 1], name="label_is_0_or_1")},
    }
    return pa.DataFrameSchema(_columns(PROCESSED_COLUMNS, checks), strict=False, name="processed")


def _normalise_raw(df: pd.DataFrame) -> pd.DataFrame:
    """Accept lossless numeric variants (ints read as floats because of NaN, int ratings)."""
    df = df.copy()
    for col in _RAW_INT:
        if col in df and pd.api.types.is_float_dtype(df[col]):
            values = df[col].dropna()
            if (values == values.round()).all():
                df[col] = df[col].astype("Int64")
        elif col in df and pd.api.types.is_integer_dtype(df[col]):
            df[col] = df[col].astype("Int64")
    rating = df.get("averageRating")
    if rating is not None and pd.api.types.is_integer_dtype(rating):
        df["averageRating"] = rating.astype("float64")
    return df


def _normalise_processed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    if "label" in df and pd.api.types.is_integer_dtype(df["label"]):
        df["label"] = df["label"].astype("int64")
    for col in NUMERIC_INPUTS:
        if col in df and pd.api.types.is_numeric_dtype(df[col]):
            df[col] = df[col].astype("float64")
    return df


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a parquet or CSV extract; "" stays "" (no genres), ``\\N`` and blanks are null."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    null_tokens = ["", "\\N", "NA", "nan", "NaN", "null"]
    return pd.read_csv(
        path,
        dtype={"tconst": str, "primaryTitle": str, "title": str, "text": str, "genres": str},
        keep_default_na=False,
        na_values={
            **{c: null_tokens for c in (*_RAW_INT, "averageRating", *NUMERIC_INPUTS)},
            "genres": ["\\N"],
        },
    )


def _validate(
    df: pd.DataFrame,
    cfg: Any,
    name: str,
    schema: pa.DataFrameSchema,
    source: str | None,
    raise_on_error: bool,
    report_dir: Path | None = None,
) -> ValidationResult:
    limit = cfg.validation.max_examples
    failures: list[Failure] = []
    if len(df) == 0:
        failures.append(Failure(TABLE, "not_empty", 0, [], "the table has no rows"))
        missing = [c for c in schema.columns if c not in df.columns]
        failures += [Failure(c, "column_missing", 1, [], "") for c in missing]
    else:
        try:
            schema.validate(df, lazy=True)
        except pa.errors.SchemaErrors as exc:
            failures += failures_from_pandera(exc.failure_cases, df, limit, schema)
    stats = dataset_stats(df, "raw" if name.startswith("raw") else "processed")
    dist_failures, warnings = compare(stats, load_accepted(cfg, name), cfg.validation)
    failures += dist_failures
    result = ValidationResult(
        name=name,
        ok=not failures,
        n_rows=len(df),
        columns=[str(c) for c in df.columns],
        failures=failures,
        warnings=warnings,
        stats=stats,
        source=source,
    )
    write_report(result, _report_dir(cfg, report_dir))
    for w in warnings:
        log.warning("%s validation warning: %s %s: %s", name, w.column, w.check, w.detail)
    if result.ok:
        save_accepted(cfg, name, stats)
        log.info("%s data passed validation (%d rows)", name, len(df))
        return result
    log.error("%s data failed validation; report: %s", name, result.report_path)
    if raise_on_error:
        raise DataValidationError(result)
    return result


def _report_dir(cfg: Any, report_dir: str | Path | None) -> Path:
    """The DAG hands the report folder in; on its own a step uses ``<reports_dir>/validation``."""
    return Path(report_dir) if report_dir else Path(cfg.paths.reports_dir) / "validation"


def validate_raw(
    df: pd.DataFrame,
    cfg: Any,
    source: str | None = None,
    raise_on_error: bool = True,
    report_dir: Path | None = None,
) -> ValidationResult:
    """Check a raw extract frame; raises ``DataValidationError`` (after the report) on failure."""
    return _validate(
        _normalise_raw(df), cfg, "raw", raw_schema(), source, raise_on_error, report_dir
    )


def validate_processed(
    df: pd.DataFrame,
    cfg: Any,
    source: str | None = None,
    raise_on_error: bool = True,
    report_dir: Path | None = None,
) -> ValidationResult:
    """Check a processed frame (label, text, genres ...) the same way."""
    return _validate(
        _normalise_processed(df),
        cfg,
        "processed",
        processed_schema(),
        source,
        raise_on_error,
        report_dir,
    )


def _read_or_report(
    cfg: Any, path: str | Path, name: str, report_dir: Path | None = None
) -> pd.DataFrame:
    try:
        return read_table(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} data file {path} does not exist") from None
    except Exception as exc:  # any parse error becomes a report, not a traceback
        result = ValidationResult(
            name=name,
            ok=False,
            n_rows=0,
            columns=[],
            failures=[Failure(TABLE, "readable", 0, [], f"{type(exc).__name__}: {exc}")],
            source=str(path),
        )
        write_report(result, _report_dir(cfg, report_dir))
        raise DataValidationError(result) from None


def validate_raw_file(
    cfg: Any, path: str | Path, report_dir: Path | None = None
) -> ValidationResult:
    frame = _read_or_report(cfg, path, "raw", report_dir)
    return validate_raw(frame, cfg, source=str(path), report_dir=report_dir)


def validate_processed_file(
    cfg: Any, path: str | Path, report_dir: Path | None = None
) -> ValidationResult:
    frame = _read_or_report(cfg, path, "processed", report_dir)
    return validate_processed(frame, cfg, source=str(path), report_dir=report_dir)
