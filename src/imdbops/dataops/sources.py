"""IMDb's dump format (title.basics / title.ratings TSV) and how DuckDB reads it.

The dumps are tab-separated, ``\\N`` for null, with no quoting at all (titles contain
quotes), so DuckDB must be told the format instead of sniffing it. The header is checked
here in Python before DuckDB touches the file: with explicit ``columns`` DuckDB skips the
header line without looking at it, so a dump with shuffled or renamed columns would load
garbage silently.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb


class IngestError(ValueError):
    """An input dump cannot be loaded; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class DumpFormat:
    name: str  # e.g. "title.basics"
    table: str  # raw table it loads into
    columns: tuple[tuple[str, str], ...]  # (column, DuckDB type), in the dump's order

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def download_hint(self) -> str:
        return f"https://datasets.imdbws.com/{self.name}.tsv.gz"

    def load_error(self, path: Path, head: str, bad_value: bool) -> IngestError:
        """One line for a dump the warehouse cannot load: file, the loader's words, the fix
        (a value of the wrong type, or a file that is not this format at all)."""
        if bad_value:
            fix = (
                f"every value must match IMDb's {self.name} types "
                f"({', '.join(f'{c} {t}' for c, t in self.columns)}; nulls as \\N); "
                "fix or remove the offending line"
            )
        else:
            fix = f"check the file is IMDb's {self.name} format ({self.download_hint})"
        return IngestError(f"{path}: cannot load as {self.name}: {head}; {fix}")


BASICS = DumpFormat(
    name="title.basics",
    table="title_basics",
    columns=(
        ("tconst", "VARCHAR"),
        ("titleType", "VARCHAR"),
        ("primaryTitle", "VARCHAR"),
        ("originalTitle", "VARCHAR"),
        ("isAdult", "INTEGER"),
        ("startYear", "INTEGER"),
        ("endYear", "INTEGER"),
        ("runtimeMinutes", "INTEGER"),
        ("genres", "VARCHAR"),
    ),
)

RATINGS = DumpFormat(
    name="title.ratings",
    table="title_ratings",
    columns=(
        ("tconst", "VARCHAR"),
        ("averageRating", "DOUBLE"),
        ("numVotes", "BIGINT"),
    ),
)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def check_dump(path: Path, fmt: DumpFormat) -> None:
    """Fail early, with a fix, on a missing/empty file or a header that is not ``fmt``'s."""
    path = Path(path)
    fix = f"pass IMDb's {fmt.name}.tsv.gz ({fmt.download_hint})"
    if not path.exists():
        raise IngestError(f"{path}: file not found; {fix}")
    if not path.is_file():
        raise IngestError(f"{path}: not a regular file; {fix}")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the file is empty; {fix}")
    try:
        with _open_text(path) as fh:
            header = fh.readline()
            first_row = fh.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise IngestError(
            f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'text'} ({exc}); "
            f"the file is corrupt or truncated: download it again ({fmt.download_hint})"
        ) from None
    if not header.strip():
        raise IngestError(f"{path}: the file is empty (no header line); {fix}")
    found = header.rstrip("\r\n").split("\t")
    expected = fmt.column_names
    if found != expected:
        missing = [c for c in expected if c not in found]
        extra = [c for c in found if c not in expected]
        detail = []
        if missing:
            detail.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            detail.append(f"unexpected column(s) {', '.join(extra)}")
        if not detail:
            detail.append(f"columns in the wrong order ({', '.join(found)})")
        if len(found) == 1 and ("," in header or ";" in header):
            detail.append("the file is not tab-separated")
        raise IngestError(
            f"{path}: not an IMDb {fmt.name} dump: {'; '.join(detail)}. "
            f"Expected tab-separated header: {' '.join(expected)}; {fix}"
        )
    if not first_row.strip():
        raise IngestError(f"{path}: the file has a header but no rows; {fix}")


def read_sql(path: Path, fmt: DumpFormat) -> str:
    """A DuckDB ``read_csv`` expression that streams ``path`` with IMDb's exact format."""
    columns = ", ".join(f"'{name}': '{typ}'" for name, typ in fmt.columns)
    literal = str(Path(path).resolve()).replace("'", "''")
    return (
        f"read_csv('{literal}', delim='\\t', quote='', escape='', nullstr='\\N', "
        f"header=true, auto_detect=false, strict_mode=true, columns={{{columns}}})"
    )


def describe_read_error(path: Path, fmt: DumpFormat, exc: duckdb.Error) -> IngestError:
    """Turn DuckDB's long CSV error (with generic advice) into one line with our fix."""
    text = str(exc)
    # DuckDB appends generic "possible solutions" (auto-detection hints) that do not apply.
    head = re.split(r"\n\n|Possible (?:solutions|fixes)", text, maxsplit=1)[0]
    head = " | ".join(line.strip() for line in head.splitlines() if line.strip())
    if len(head) > 400:
        head = head[:400] + "..."
    if isinstance(exc, duckdb.IOException) and "gzip" in text.lower():
        fix = f"the file is corrupt or truncated: download it again ({fmt.download_hint})"
        return IngestError(f"{path}: cannot load as {fmt.name}: {head}; {fix}")
    bad_value = isinstance(exc, duckdb.ConversionException | duckdb.InvalidInputException)
    return fmt.load_error(path, head, bad_value)
