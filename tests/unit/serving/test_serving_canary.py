"""Canary membership: sticky per key, and the configured share of keys."""

from __future__ import annotations

from imdbops.serving.canary import in_canary


def test_membership_is_sticky_and_close_to_the_fraction():
    keys = [f"tt{i:07d}" for i in range(20_000)]
    picked = [k for k in keys if in_canary(k, 0.1)]
    assert picked == [k for k in keys if in_canary(k, 0.1)]
    assert 0.09 < len(picked) / len(keys) < 0.11
    # A bigger share keeps every title of a smaller one (raising the fraction never moves
    # a title back to the champion).
    assert set(picked) <= {k for k in keys if in_canary(k, 0.2)}
    assert not any(in_canary(k, 0.0) for k in keys[:1000])
    assert all(in_canary(k, 1.0) for k in keys[:1000])
