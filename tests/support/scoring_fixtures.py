"""IMDb-format dumps with unrated movies, and a later dump in which some got their ratings."""

from __future__ import annotations

from pathlib import Path

from support.imdb_dumps import write_dumps

GENRES = ["Drama", "Comedy", "Horror", "Documentary", "Action,Crime", "Animation,Family",
          "Romance", "Thriller,Mystery", r"\N"]  # fmt: skip
WORDS = ["night", "love", "war", "house", "dream", "blood", "city", "river", "ghost", "song"]


def movie(i: int, title: str | None = None, kind: str = "movie") -> list[str]:
    return [
        f"tt{1000000 + i:07d}", kind, title or f"The {WORDS[i % 10]} of {WORDS[(i * 7) % 10]} {i}",
        title or "orig", "0", str(1960 + i % 60), r"\N", str(70 + (i * 13) % 90) if i % 5 else r"\N",
        GENRES[i % len(GENRES)],
    ]  # fmt: skip


RATED = range(0, 10)  # rated in both dumps
UNRATED = range(10, 40)  # unrated in the first dump
GET_RATED = range(20, 40)  # ... of which these have a rating in the later dump
CHANGED = 10  # an unrated movie whose title changes in the later dump
NEW = range(40, 43)  # unrated movies that appear only in the later dump


def later_rating(i: int) -> str:
    return "7.9" if i % 3 else "3.1"


def first_dump(folder: Path) -> tuple[Path, Path]:
    basics = [movie(i) for i in (*RATED, *UNRATED)]
    basics += [movie(i, kind="tvEpisode") for i in (90, 91)]  # not movies: never scored
    ratings = [[f"tt{1000000 + i:07d}", "6.5", "100"] for i in RATED]
    return write_dumps(folder, basics, ratings)


def later_dump(folder: Path) -> tuple[Path, Path]:
    basics = [movie(i) for i in (*RATED, *UNRATED, *NEW) if i != CHANGED]
    basics.append(movie(CHANGED, title="A Completely Retitled Film"))
    basics += [movie(i, kind="tvEpisode") for i in (90, 91)]
    ratings = [[f"tt{1000000 + i:07d}", "6.5", "100"] for i in RATED]
    ratings += [[f"tt{1000000 + i:07d}", later_rating(i), "50"] for i in GET_RATED]
    return write_dumps(folder, basics, ratings)


def tconst(i: int) -> str:
    return f"tt{1000000 + i:07d}"
