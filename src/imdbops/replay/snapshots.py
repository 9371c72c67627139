"""Dated IMDb-format snapshots: what IMDb would have published on each period's date.

A title appears once it is released (its start year plus a day of that year drawn from a
hash of its id, since the dumps carry years only); its rating arrives ``rating_delay_days``
later (half to one and a half times that, per title), so every snapshot holds released but
unrated titles; a rating, once published, moves a little from one snapshot to the next (a
random walk of ``rating_walk`` per period) and its vote count grows. The genre and title mix
drifts as the real years do. Files are IMDb's own format (gzip, tab-separated, ``\\N``
nulls), exactly what ``imdbops data ingest --source imdb`` reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

BASICS_COLUMNS = [
    "tconst", "titleType", "primaryTitle", "originalTitle", "isAdult",
    "startYear", "endYear", "runtimeMinutes", "genres",
]  # fmt: skip
BASICS_FILE = "title.basics.tsv.gz"
RATINGS_FILE = "title.ratings.tsv.gz"


class SnapshotSourceError(ValueError):
    """The movie source cannot be replayed; the message names the file and the fix."""


@dataclass(frozen=True)
class SnapshotPlan:
    first: date  # the first snapshot's date
    periods: int
    period_months: int = 12
    rating_delay_days: int = 365
    rating_walk: float = 0.05
    max_titles: int | None = None
    seed: int = 7

    def dates(self) -> list[date]:
        return [add_months(self.first, k * self.period_months) for k in range(self.periods)]


@dataclass
class Snapshot:
    index: int
    date: date
    basics: Path
    ratings: Path
    titles: int
    rated: int
    new_releases: pd.DataFrame  # released since the previous snapshot (the API's questions)
    ratings_arrived: int  # ratings published since the previous snapshot

    @property
    def unrated(self) -> int:
        return self.titles - self.rated

    def instant(self) -> datetime:
        """The moment the period starts in the product's clock (noon UTC of the date)."""
        return datetime(self.date.year, self.date.month, self.date.day, 12, tzinfo=UTC)


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def load_movies(basics: Path | None = None, ratings: Path | None = None) -> pd.DataFrame:
    """The source movies (IMDb's columns plus ``averageRating, numVotes``): the bundled set,
    or a pair of IMDb dumps. Titles without a start year cannot be placed in time: dropped."""
    if (basics is None) != (ratings is None):
        raise SnapshotSourceError("give both --basics and --ratings, or neither (bundled data)")
    if basics is None:
        from imdbops.dataops.bundled import read_bundled_movies, to_imdb_tables

        b, r = to_imdb_tables(read_bundled_movies())
    else:
        b, r = _read_dump(basics, BASICS_COLUMNS), _read_dump(ratings, RATINGS_COLUMNS)
    frame = b.merge(r, on="tconst", how="left")
    frame["startYear"] = pd.to_numeric(frame["startYear"], errors="coerce")
    frame = frame[frame["startYear"].notna()].copy()
    frame["startYear"] = frame["startYear"].astype(int)
    return frame.sort_values("tconst", kind="stable").reset_index(drop=True)


RATINGS_COLUMNS = ["tconst", "averageRating", "numVotes"]


def _read_dump(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            path, sep="\t", na_values=["\\N"], keep_default_na=False, quoting=3, dtype=str
        )
    except (OSError, ValueError) as exc:
        raise SnapshotSourceError(f"{path}: cannot read it as an IMDb TSV dump ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SnapshotSourceError(
            f"{path}: missing column(s) {missing}; expected IMDb's {', '.join(columns)}"
        )
    frame = frame[columns]
    if "averageRating" in frame:
        frame["averageRating"] = pd.to_numeric(frame["averageRating"], errors="coerce")
        frame["numVotes"] = pd.to_numeric(frame["numVotes"], errors="coerce")
    return frame


def _unit_hash(tconst: pd.Series, salt: str) -> np.ndarray:
    """A number in [0, 1) per id, stable across runs and machines."""
    h = pd.util.hash_pandas_object(tconst + salt, index=False).to_numpy()
    return (h % np.uint64(1_000_003)).astype(float) / 1_000_003.0


def subset(movies: pd.DataFrame, max_titles: int | None) -> pd.DataFrame:
    """At most ``max_titles`` titles, chosen by id hash (the same ones on every run)."""
    if not max_titles or len(movies) <= max_titles:
        return movies
    keep = np.argsort(_unit_hash(movies["tconst"], "subset"), kind="stable")[:max_titles]
    return movies.iloc[np.sort(keep)].reset_index(drop=True)


def write_snapshots(movies: pd.DataFrame, plan: SnapshotPlan, out_dir: Path) -> Iterator[Snapshot]:
    """Write ``out_dir/<date>/title.{basics,ratings}.tsv.gz`` for each period, in order."""
    from imdbops.dataops.bundled import write_imdb_tsv

    # Sorted by id: the same source gives the same files, whatever its row order.
    movies = subset(movies.sort_values("tconst", kind="stable"), plan.max_titles)
    movies = movies.reset_index(drop=True)
    if movies.empty:
        raise SnapshotSourceError("the movie source holds no title with a start year")
    day = (_unit_hash(movies["tconst"], "day") * 365).astype(int)
    released = pd.to_datetime(movies["startYear"].astype(str) + "-01-01") + pd.to_timedelta(
        day, unit="D"
    )
    delay = plan.rating_delay_days * (0.5 + _unit_hash(movies["tconst"], "delay"))
    rated_on = released + pd.to_timedelta(delay.round(), unit="D")
    has_rating = movies["averageRating"].notna().to_numpy()
    walk = np.zeros(len(movies))
    # The first period's "new" titles are those of the period before it.
    previous = pd.Timestamp(add_months(plan.first, -plan.period_months))
    for k, when in enumerate(plan.dates()):
        stamp = pd.Timestamp(when)
        out = released <= stamp
        rated = (out & (rated_on <= stamp)).to_numpy() & has_rating
        rng = np.random.default_rng([plan.seed, k])
        walk[rated] += rng.normal(0.0, plan.rating_walk, int(rated.sum()))
        folder = Path(out_dir) / when.isoformat()
        basics = movies.loc[out.to_numpy(), BASICS_COLUMNS]
        ages = (stamp - rated_on[rated]).dt.days.to_numpy()
        ratings = pd.DataFrame(
            {
                "tconst": movies.loc[rated, "tconst"].to_numpy(),
                "averageRating": np.clip(
                    (movies.loc[rated, "averageRating"].to_numpy() + walk[rated]).round(1), 1, 10
                ),
                # Votes keep arriving for about three years after the rating is published.
                "numVotes": np.maximum(
                    5,
                    movies.loc[rated, "numVotes"].fillna(5).to_numpy()
                    * np.minimum(1.0, (ages + 30) / 1095.0),
                ).astype(int),
            }
        )
        b_path = write_imdb_tsv(basics.reset_index(drop=True), folder / BASICS_FILE)
        r_path = write_imdb_tsv(ratings, folder / RATINGS_FILE)
        new = movies.loc[(out & (released > previous)).to_numpy()]
        arrived = (rated_on > previous).to_numpy() if k else np.ones(len(movies), bool)
        yield Snapshot(
            index=k,
            date=when,
            basics=b_path,
            ratings=r_path,
            titles=len(basics),
            rated=int(rated.sum()),
            new_releases=new,
            ratings_arrived=int((arrived & rated).sum()),
        )
        previous = stamp
