"""IMDb's genre vocabulary: the one list that data validation, the model and the API share."""

from __future__ import annotations

from functools import lru_cache

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
    Returns a new list each call (callers may change it).
    """
    if genres is None:
        return []
    key = genres if isinstance(genres, str) else tuple(genres)
    # Requests and batches repeat a few genre lists, so answers are cached (the per-item
    # matching was ~6% of a 100-item request's CPU). Long inputs skip the cache, so it stays
    # small whatever a client sends; a refusal raises and is never cached.
    try:
        small = (len(key) if isinstance(key, str) else sum(map(len, key))) <= _CACHED_CHARS
        if small:
            return list(_cached_genres(key))
    except TypeError:  # elements without a length, or unhashable: not cacheable
        pass
    return _normalize(key)


# Upper bound on the text of one cached genre list (28 genres with a little slack).
_CACHED_CHARS = 400


@lru_cache(maxsize=4096)
def _cached_genres(key: str | tuple) -> tuple[str, ...]:
    return tuple(_normalize(key))


def _normalize(genres: tuple | str) -> list[str]:
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
