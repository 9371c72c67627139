"""Shares of traffic carrying genres the serving model never saw."""

from __future__ import annotations

import pytest

from imdbops.monitoring.unknown_genres import check_unknown_genres, unknown_genre_shares

KNOWN = ["Action", "Comedy", "Drama"]


def test_shares_count_rows_once_however_many_unknown_genres_they_carry():
    combos = {"Comedy,Horror": 30, "Horror,Sci-Fi": 10, "Drama": 60}
    share_any, per_genre = unknown_genre_shares(combos, 100, KNOWN)
    assert share_any == pytest.approx(0.4)
    assert per_genre == {"Horror": pytest.approx(0.4), "Sci-Fi": pytest.approx(0.1)}


def test_exceeding_the_threshold_is_a_reason_naming_the_genres():
    check = check_unknown_genres({"Horror": 40, "Drama": 60}, 100, KNOWN, threshold=0.1)
    assert check["exceeded"] and check["genres_over_threshold"] == ["Horror"]
    assert "40%" in check["message"] and "Horror" in check["message"]
    assert check["known_genres"] == KNOWN


def test_known_traffic_or_a_share_under_the_threshold_is_fine():
    assert not check_unknown_genres({"Drama": 10, "": 5}, 15, KNOWN, 0.1)["exceeded"]
    low = check_unknown_genres({"Horror": 5, "Drama": 95}, 100, KNOWN, 0.1)
    assert not low["exceeded"] and low["message"] is None
    assert low["share_any"] == pytest.approx(0.05)
