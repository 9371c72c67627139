"""Tiny IMDb-format dumps for the warehouse tests (gzipped TSV, \\N nulls, no quoting)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

BASICS_HEADER = [
    "tconst", "titleType", "primaryTitle", "originalTitle", "isAdult",
    "startYear", "endYear", "runtimeMinutes", "genres",
]  # fmt: skip
RATINGS_HEADER = ["tconst", "averageRating", "numVotes"]


class Dumps:
    """Writes versions of a small title.basics / title.ratings pair."""

    def __init__(self, root: Path):
        self.root = root
        self.basics = [
            ["tt0000001", "short", "Carmencita", "Carmencita", "0", "1894", r"\N", "1", "Documentary,Short"],
            ["tt0000002", "movie", "Le clown", "Le clown", "0", "1892", r"\N", r"\N", "Animation,Comedy"],
            ["tt0000003", "movie", 'The "Great" Train', "The Great Train", "0", "1903", r"\N", "12", "Action,Crime,Western"],
            ["tt0000004", "tvSeries", "Some Series", "Some Series", "0", "1990", "1995", "30", "Comedy"],
            ["tt0000005", "movie", "No Genres Here", "No Genres Here", "0", r"\N", r"\N", "95", r"\N"],
            ["tt0000006", "movie", "Unrated Film", "Unrated Film", "0", "2001", r"\N", "88", "Drama"],
            ["tt0000007", "tvEpisode", "Pilot", "Pilot", "0", "2005", r"\N", "44", "Drama,Mystery"],
            ["tt0000008", "movie", "Commas, Inc.", "Commas, Inc.", "0", "2010", r"\N", "101", "Comedy,Romance"],
        ]  # fmt: skip
        self.ratings = [
            ["tt0000001", "5.7", "2100"],
            ["tt0000002", "6.1", "280"],
            ["tt0000003", "7.3", "1500"],
            ["tt0000004", "8.0", "99"],
            ["tt0000005", "4.2", "17"],
            ["tt0000007", "7.7", "1200"],
            ["tt0000008", "3.9", "42"],
        ]
        self.version = 0

    def write(self) -> tuple[Path, Path]:
        self.version += 1
        folder = self.root / f"v{self.version}"
        return (
            _write(folder / "title.basics.tsv.gz", BASICS_HEADER, self.basics),
            _write(folder / "title.ratings.tsv.gz", RATINGS_HEADER, self.ratings),
        )

    def set_rating(self, tconst: str, rating: str) -> None:
        next(r for r in self.ratings if r[0] == tconst)[1] = rating


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n")
    return path


@pytest.fixture
def dumps(tmp_path) -> Dumps:
    return Dumps(tmp_path / "dumps")
