"""The report's realised ROC-AUC per version, merged over every period's performance report."""

from __future__ import annotations

from imdbops.replay.report import realised_by_version


def _version(version: str, months: dict[str, tuple[float, int]]) -> dict:
    return {
        "model_version": version,
        "test_metrics": {"roc_auc": 0.66},
        "months": [
            {"month": m, "rows": rows, "metrics": {"roc_auc": auc}}
            for m, (auc, rows) in months.items()
        ],
    }


def test_each_month_comes_from_the_newest_report_that_judged_it():
    periods = [
        {"date": "1990-12-31", "performance": {"versions": []}},
        {"date": "1991-12-31",
         "performance": {"versions": [_version("9", {"1990-12": (0.70, 100)})]}},
        # Later ratings change 1990's figure; 1991 is judged for the first time.
        {"date": "1992-12-31",
         "performance": {"versions": [_version("9", {"1990-12": (0.71, 180),
                                                     "1991-12": (0.64, 90)})]}},
        # A window leaves 1990 out; version 10 appears.
        {"date": "1993-12-31",
         "performance": {"versions": [_version("9", {"1991-12": (0.65, 150)}),
                                      _version("10", {"1992-12": (0.68, 80)})]}},
        {"date": "1994-12-31"},  # a period whose performance step did not run
    ]  # fmt: skip
    assert realised_by_version(periods) == {
        "9": {"test": 0.66, "points": [("1990-12-31", 0.71, 180), ("1991-12-31", 0.65, 150)]},
        "10": {"test": 0.66, "points": [("1992-12-31", 0.68, 80)]},
    }
    assert list(realised_by_version(periods)) == ["9", "10"]
    assert realised_by_version([{"date": "1990-12-31"}]) == {}
