"""Movies to score, read from CSV or Parquet in chunks and checked row by row.

A chunk comes out as a model-input frame (the movie record's model fields: the same
columns and dtypes ``predict_proba`` was trained on) plus its ``tconst`` when the file has
one. The columns a file needs and may have are the record's required and optional fields. Every problem is one :class:`ScoreInputError` line naming the file, the row (1 =
first data row) and the fix; the scoring run then writes nothing.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdbops.genres import IMDB_GENRES, UnknownGenreError, normalize_genres
from imdbops.movies import FIELDS, MODEL_FIELDS, MOVIE_FIELDS, MovieField

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

REQUIRED = tuple(f.name for f in MOVIE_FIELDS if f.required)
OPTIONAL = tuple(f.name for f in MOVIE_FIELDS if not f.required)
TCONST = re.compile(FIELDS["tconst"].pattern or "")
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class ScoreInputError(ValueError):
    """A file of movies to score cannot be used; the message names file, row and fix."""


@dataclass
class Chunk:
    frame: pd.DataFrame  # model input: the record's model fields (movies.MODEL_INPUT_COLUMNS)
    tconst: np.ndarray | None  # object array of ids, or None when the file has none
    first_row: int  # 1-based row number of the chunk's first row in the file


def file_format(path: Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ScoreInputError(
            f"{path}: unknown file type {Path(path).suffix!r}; pass a .csv or .parquet file"
        )
    return fmt


def count_rows(path: Path) -> int | None:
    """Rows in a Parquet file (from its footer); None for CSV (unknown without reading)."""
    if file_format(path) != "parquet":
        return None
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # noqa: BLE001 - read_chunks reports the real problem
        return None


def read_chunks(path: Path, chunk_rows: int = 100_000) -> Iterator[Chunk]:
    """Yield checked chunks of ``path`` (CSV with a header, or Parquet)."""
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise ScoreInputError(f"{path}: no such file; pass the path of a CSV or Parquet file")
    batches = _csv_batches(path, chunk_rows) if fmt == "csv" else _parquet_batches(path, chunk_rows)
    genre_cache: dict[Any, str] = {}
    first = 1
    for table in batches:
        if table.num_rows == 0:
            continue
        yield _check(path, table, first, genre_cache)
        first += table.num_rows


def _unreadable(path: Path, kind: str, exc: Exception) -> ScoreInputError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ScoreInputError(
        f"{path}: cannot read it as {kind} ({detail}); pass a UTF-8 CSV with a header row "
        f"or a Parquet file with columns {', '.join(REQUIRED + OPTIONAL)}"
    )


def _check_columns(path: Path, names: list[str]) -> list[str]:
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ScoreInputError(
            f"{path}: no {' or '.join(missing)} column (found: {', '.join(names) or 'none'}); "
            f"the file needs columns {', '.join(REQUIRED)} and may have {', '.join(OPTIONAL)}"
        )
    return [c for c in (*REQUIRED, *OPTIONAL) if c in names]


def _csv_batches(path: Path, chunk_rows: int) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        with open(path, "rb") as fh:
            header = fh.readline().decode("utf-8").strip().lstrip("\ufeff")
        names = [n.strip() for n in next(csv.reader([header]))] if header else []
        wanted = _check_columns(path, names)
        reader = pacsv.open_csv(
            path,
            # ~200 bytes a row: blocks of about ``chunk_rows`` rows keep memory flat.
            read_options=pacsv.ReadOptions(block_size=max(1 << 20, chunk_rows * 200)),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types={c: pa.string() for c in wanted},
                strings_can_be_null=True,
                null_values=["", "\\N"],
            ),
        )
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            yield pa.Table.from_batches([batch])
    except ScoreInputError:
        raise
    except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise _unreadable(path, "CSV", exc) from None


def _parquet_batches(path: Path, chunk_rows: int) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        wanted = _check_columns(path, pf.schema_arrow.names)
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=wanted):
            yield pa.Table.from_batches([batch])
    except ScoreInputError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(path, "Parquet", exc) from None


def _check(path: Path, table: Any, first: int, genre_cache: dict[Any, str]) -> Chunk:
    import numpy as np
    import pandas as pd

    columns: dict[str, Any] = {}
    for field in MODEL_FIELDS:
        if field.kind == "genres":
            columns[field.name] = _genres(path, table, field, first, genre_cache)
        elif field.numeric:
            columns[field.name] = _numbers(path, table, field.name, first)
        else:
            columns[field.name] = _texts(path, table, field, first)
    frame = pd.DataFrame(columns)
    tconst = None
    if "tconst" in table.column_names:
        tconst = table.column("tconst").to_pandas().astype(object).to_numpy()
        ok = pd.Series(tconst).astype(str).str.fullmatch(TCONST.pattern).to_numpy()
        ok &= pd.notna(tconst)
        if not ok.all():
            row = first + int(np.argmin(ok))
            raise ScoreInputError(
                f"{path}: row {row}: tconst {tconst[row - first]!r} is not an IMDb id; use "
                "'tt' followed by digits (e.g. tt0133093), or drop the tconst column"
            )
    return Chunk(frame, tconst, first)


def _texts(path: Path, table: Any, field: MovieField, first: int) -> Any:
    import numpy as np

    if field.name not in table.column_names:
        return np.full(table.num_rows, "", dtype=object)
    values = table.column(field.name).to_pandas().astype(object)
    if field.required:
        blank = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
        if blank.any():
            row = first + int(np.argmax(blank))
            raise ScoreInputError(
                f"{path}: row {row}: empty {field.name}; every movie needs a {field.name}"
            )
    return values.fillna("").astype(str).to_numpy(dtype=object)


def _genres(
    path: Path, table: Any, field: MovieField, first: int, genre_cache: dict[Any, str]
) -> Any:
    import numpy as np
    import pandas as pd

    raw_genres = table.column(field.name).to_pandas()
    # IMDb has a few hundred genre combinations: check each distinct value once.
    genres = np.empty(len(raw_genres), dtype=object)
    codes, uniques = pd.factorize(raw_genres, use_na_sentinel=True)
    mapped = []
    for value in uniques:
        if value not in genre_cache:
            try:
                genre_cache[value] = ",".join(normalize_genres(_genre_value(value)))
            except UnknownGenreError as exc:
                row = first + int(np.argmax(raw_genres.to_numpy() == value))
                raise ScoreInputError(
                    f"{path}: row {row}: unknown genre(s) "
                    f"{', '.join(repr(u) for u in exc.unknown[:5])}; use IMDb genres "
                    f"(comma-separated): {', '.join(IMDB_GENRES)}"
                ) from None
        mapped.append(genre_cache[value])
    genres[:] = ""
    known = codes >= 0
    if len(mapped):
        genres[known] = np.asarray(mapped, dtype=object)[codes[known]]
    return genres


def _genre_value(value: Any) -> Any:
    return value if isinstance(value, str) else None


def _numbers(path: Path, table: Any, column: str, first: int) -> Any:
    import numpy as np
    import pandas as pd

    if column not in table.column_names:
        return np.full(table.num_rows, np.nan)
    raw = table.column(column).to_pandas()
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    # As at serving (transform._optional_number): inf means "unknown".
    values[~np.isfinite(values)] = np.nan
    bad = values.isna().to_numpy() & raw.notna().to_numpy()
    if bad.any():
        row = first + int(np.argmax(bad))
        raise ScoreInputError(
            f"{path}: row {row}: {column} {raw.iloc[row - first]!r} is not a number; "
            "write a number or leave it empty"
        )
    return values.to_numpy()
