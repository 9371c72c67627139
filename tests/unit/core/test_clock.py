"""The product's clock: the wall clock by default, a fixed instant, or a replay's clock file."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from imdbops import clock
from imdbops.atomic import atomic_write_json
from imdbops.orchestrator.manifest import new_run_id, now_iso


def test_without_imdbops_now_it_is_the_wall_clock(monkeypatch):
    monkeypatch.delenv(clock.ENV, raising=False)
    before = time.time()
    assert before <= clock.time() <= time.time()
    assert clock.is_wall_clock()


def test_a_fixed_instant_stamps_run_ids_and_manifests(monkeypatch):
    monkeypatch.setenv(clock.ENV, "1995-06-30T08:15:00Z")
    assert clock.now() == datetime(1995, 6, 30, 8, 15, tzinfo=UTC)
    assert clock.today().isoformat() == "1995-06-30"
    assert new_run_id().startswith("19950630T081500Z-")
    assert now_iso() == "1995-06-30T08:15:00.000Z"
    monkeypatch.setenv(clock.ENV, "1995-06-30")  # a bare date is midnight UTC
    assert clock.now() == datetime(1995, 6, 30, tzinfo=UTC)


def test_a_clock_file_runs_from_its_instant_and_is_followed_when_it_changes(tmp_path, monkeypatch):
    path = tmp_path / "clock.json"
    atomic_write_json(path, clock.clock_file_payload(datetime(1990, 1, 1, 12, tzinfo=UTC)))
    monkeypatch.setenv(clock.ENV, f"@{path}")
    first = clock.now()
    assert datetime(1990, 1, 1, 12, tzinfo=UTC) <= first < datetime(1990, 1, 1, 12, 1, tzinfo=UTC)
    assert clock.now() >= first  # it advances with real seconds: stamps keep their order
    # The next period: a long-running reader (the API server) follows the rewritten file.
    atomic_write_json(path, clock.clock_file_payload(datetime(1991, 1, 1, 12, tzinfo=UTC)))
    assert clock.today().isoformat() == "1991-01-01"


@pytest.mark.parametrize(
    ("value", "names"),
    [("last tuesday", "is not a date"), ("@/nonexistent/clock.json", "cannot read the clock file")],
)
def test_a_bad_imdbops_now_names_the_value_and_the_forms(monkeypatch, value, names):
    monkeypatch.setenv(clock.ENV, value)
    with pytest.raises(clock.ClockError, match=names):
        clock.now()


def test_a_clock_file_without_its_keys_says_what_it_must_hold(tmp_path, monkeypatch):
    path = tmp_path / "clock.json"
    path.write_text('{"now": "1990-01-01"}')
    monkeypatch.setenv(clock.ENV, f"@{path}")
    with pytest.raises(clock.ClockError, match='expected {"now"'):
        clock.now()
