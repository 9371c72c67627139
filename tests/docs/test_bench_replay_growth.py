"""benchmarks/replay.py judges step growth on medians of periods, per rated title for train."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def replay_bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # replay.py imports its sibling benchdoc
    spec = importlib.util.spec_from_file_location(
        "replay_bench_under_test", BENCHMARKS / "replay.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("benchdoc", None)


def period(cpu_score: float, cpu_train: float, rated: int) -> dict:
    return {"cpu": {"score": cpu_score, "train": cpu_train}, "snapshot": {"rated": rated}}


def test_growth_compares_medians_so_one_noisy_period_decides_nothing(replay_bench):
    # Period 1 is never compared (its run builds what later ones reuse); periods 2-4 and
    # the last 3 are, each end by its median: the 50 s outlier in period 3 moves nothing.
    scores = [99, 10, 50, 10, 10, 11, 12, 60, 11, 11]
    periods = [period(s, 100.0, 1000) for s in scores]
    for p in periods[-3:]:  # twice the rated titles, 1.5x the training CPU
        p["snapshot"]["rated"], p["cpu"]["train"] = 2000, 150.0
    growth = replay_bench.growth({"periods": periods})
    assert replay_bench.window(periods) == 3
    assert growth["score"] == pytest.approx(11 / 10)
    assert growth["train"] == pytest.approx(0.75)  # per rated title: 150/2000 over 100/1000


def test_a_short_replay_compares_period_2_with_the_last(replay_bench):
    periods = [period(s, 10.0, 100) for s in (5, 10, 30, 15)]
    assert replay_bench.window(periods) == 1
    assert replay_bench.growth({"periods": periods})["score"] == pytest.approx(1.5)
