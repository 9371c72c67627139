"""IMDb's genre vocabulary: the one list that data validation, the model and the API share."""

from __future__ import annotations

IMDB_GENRES: tuple[str, ...] = (
    "Action", "Adult", "Adventure", "Animation", "Biography", "Comedy", "Crime",
    "Documentary", "Drama", "Family", "Fantasy", "Film-Noir", "Game-Show", "History",
    "Horror", "Music", "Musical", "Mystery", "News", "Reality-TV", "Romance", "Sci-Fi",
    "Short", "Sport", "Talk-Show", "Thriller", "War", "Western",
)  # fmt: skip

_BY_LOWER = {g.lower(): g for g in IMDB_GENRES}


class UnknownGenreError(ValueError):
    def __init__(self, unknown: list[str]):
        self.unknown = unknown
        super().__init__(
            f"unknown genre(s) {', '.join(repr(u) for u in unknown)}; "
            f"allowed: {', '.join(IMDB_GENRES)}"
        )


def normalize_genres(genres: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """Match genres case-insensitively to IMDb's spelling; raise on unknown ones.

    Accepts a list or IMDb's comma-separated string (``\\N`` or empty means none). Order is
    IMDb's canonical order and duplicates collapse, so equal sets give equal features.
    """
    if genres is None:
        return []
    if isinstance(genres, str):
        genres = [] if genres.strip() in ("", "\\N") else genres.split(",")
    found, unknown = set(), []
    for raw in genres:
        key = str(raw).strip().lower()
        if not key:
            continue
        if key in _BY_LOWER:
            found.add(_BY_LOWER[key])
        else:
            unknown.append(str(raw))
    if unknown:
        raise UnknownGenreError(unknown)
    return [g for g in IMDB_GENRES if g in found]
