"""Genres the serving model never saw: how much of the traffic carries them.

A genre absent from the training data is a constant zero column in the reference profile,
so the per-feature drift tests cannot see a flood of it; the model silently ignores it too.
These shares are monitored on their own: the share of predictions with at least one genre
unknown to the model, and the share per unknown genre, each against
``monitoring.unknown_genre_threshold``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from imdbops.genres import IMDB_GENRES


def unknown_genre_shares(
    genre_combinations: Mapping[str, int], n_predictions: int, known: Iterable[str]
) -> tuple[float, dict[str, float]]:
    """(share with >= 1 unknown genre, {unknown genre: share}) over the logged genre strings.

    ``genre_combinations`` maps each logged comma-separated genre string to its row count.
    """
    known = frozenset(known)
    unseen = frozenset(IMDB_GENRES) - known
    any_unknown = 0
    per_genre: dict[str, int] = {}
    for combo, count in genre_combinations.items():
        hits = [g for g in (combo or "").split(",") if g in unseen]
        if hits:
            any_unknown += count
            for g in hits:
                per_genre[g] = per_genre.get(g, 0) + count
    n = max(1, int(n_predictions))
    shares = {g: per_genre[g] / n for g in IMDB_GENRES if g in per_genre}
    return any_unknown / n, shares


def check_unknown_genres(
    genre_combinations: Mapping[str, int],
    n_predictions: int,
    known: Iterable[str],
    threshold: float,
) -> dict[str, Any]:
    """The monitored shares and whether they exceed ``threshold`` (a drift reason)."""
    known = sorted(set(known), key=IMDB_GENRES.index)
    share_any, per_genre = unknown_genre_shares(genre_combinations, n_predictions, known)
    over = [g for g, s in per_genre.items() if s > threshold]
    exceeded = share_any > threshold
    message = None
    if exceeded:
        named = ", ".join(f"{g} {per_genre[g]:.0%}" for g in over) or ", ".join(
            f"{g} {s:.0%}" for g, s in per_genre.items()
        )
        message = (
            f"{share_any:.0%} of predictions carry genres the model never saw in training "
            f"({named}; threshold {threshold:.0%}); the model ignores those genres, so these "
            "answers rest on the other inputs: retrain on data that has them"
        )
    return {
        "threshold": threshold,
        "share_any": share_any,
        "per_genre": per_genre,
        "genres_over_threshold": over,
        "exceeded": exceeded,
        "known_genres": known,
        "message": message,
    }
