"""Tiny dumps in IMDb's exact format (tab-separated, \\N nulls, no quoting, gzipped).

One set of rows for every test that needs IMDb-shaped input: non-movie titleTypes, \\N
nulls, multi-genre strings, quotes and commas in titles, a title with no rating.
"""

from __future__ import annotations

import gzip
from pathlib import Path

BASICS_HEADER = [
    "tconst", "titleType", "primaryTitle", "originalTitle", "isAdult",
    "startYear", "endYear", "runtimeMinutes", "genres",
]  # fmt: skip
RATINGS_HEADER = ["tconst", "averageRating", "numVotes"]

BASICS_ROWS = [
    ["tt0000001", "short", "Carmencita", "Carmencita", "0", "1894", r"\N", "1", "Documentary,Short"],
    ["tt0000002", "movie", "Le clown et ses chiens", "Le clown et ses chiens", "0", "1892", r"\N", r"\N", "Animation,Comedy"],
    ["tt0000003", "movie", 'The "Great" Train', "The Great Train", "0", "1903", r"\N", "12", "Action,Crime,Western"],
    ["tt0000004", "tvSeries", "Some Series", "Some Series", "0", "1990", "1995", "30", "Comedy"],
    ["tt0000005", "movie", "No Genres Here", "No Genres Here", "0", r"\N", r"\N", "95", r"\N"],
    ["tt0000006", "movie", "Unrated Film", "Unrated Film", "0", "2001", r"\N", "88", "Drama"],
    ["tt0000007", "tvEpisode", "Pilot", "Pilot", "0", "2005", r"\N", "44", "Drama,Mystery"],
    ["tt0000008", "movie", "It's a Title, with commas", "Orig", "1", "2010", r"\N", "101", "Comedy,Romance"],
]  # fmt: skip
RATINGS_ROWS = [
    ["tt0000001", "5.7", "2100"],
    ["tt0000002", "6.1", "280"],
    ["tt0000003", "7.3", "1500"],
    ["tt0000004", "8.0", "99"],
    ["tt0000005", "4.2", "17"],
    ["tt0000007", "7.7", "1200"],
    ["tt0000008", "3.9", "42"],
]


def write_tsv_gz(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n")
    return path


def write_dumps(folder: Path, basics=None, ratings=None) -> tuple[Path, Path]:
    """(title.basics.tsv.gz, title.ratings.tsv.gz) in ``folder``, default rows unless given."""
    return (
        write_tsv_gz(
            folder / "title.basics.tsv.gz", BASICS_HEADER, BASICS_ROWS if basics is None else basics
        ),
        write_tsv_gz(
            folder / "title.ratings.tsv.gz",
            RATINGS_HEADER,
            RATINGS_ROWS if ratings is None else ratings,
        ),
    )
