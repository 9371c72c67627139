"""Reading the prediction-log window: only the files it needs, bad files named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from support.prediction_log import write_prediction_log

from imdbops.monitoring.window import CorruptLogError, WindowError, read_window, select_files

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _rows(n: int, genres: str = "Drama") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "title": [f"movie {i}" for i in range(n)],
            "genres": [genres] * n,
            "year": np.full(n, 2000.0),
            "runtime_minutes": np.full(n, 90.0),
        }
    )


def test_window_of_last_predictions_reads_only_the_newest_files(cfg):
    log_dir = cfg.monitoring.prediction_log_dir
    # An old day of Comedy, then a recent burst of Drama.
    write_prediction_log(
        log_dir, _rows(3000, "Comedy"), np.full(3000, 0.2), end=NOW - timedelta(days=1)
    )
    write_prediction_log(log_dir, _rows(2500), np.full(2500, 0.8), end=NOW, rows_per_file=500)
    files, _ = select_files(cfg, predictions=1200)
    assert len(files) == 3  # 3 x 500 newest rows cover 1,200; the old day is never opened
    window = read_window(cfg, predictions=1200, sample_rows=1000)
    assert window.n_predictions == 1200
    assert window.stats["genre_frequencies"]["Drama"] == 1.0
    assert window.stats["positive_rate"] == 1.0
    assert len(window.sample) == 1000
    assert window.stats["model_versions"] == {"1": 1200}


def test_window_of_last_hours_filters_rows_by_timestamp(cfg):
    log_dir = cfg.monitoring.prediction_log_dir
    write_prediction_log(log_dir, _rows(100), np.full(100, 0.9), end=NOW, spacing_s=60)
    window = read_window(cfg, hours=0.5, now=NOW)
    # One row per minute; the last 30 minutes inclusive hold 31 rows.
    assert window.n_predictions == 31
    assert window.start >= NOW - timedelta(minutes=30)


def test_empty_window_is_a_clear_error(cfg):
    with pytest.raises(WindowError, match="window is empty"):
        read_window(cfg, predictions=100)
    write_prediction_log(
        cfg.monitoring.prediction_log_dir, _rows(10), np.full(10, 0.5), end=NOW - timedelta(days=3)
    )
    with pytest.raises(WindowError, match="window is empty"):
        read_window(cfg, hours=1, now=NOW)


def test_corrupted_file_fails_the_read_and_is_named(cfg):
    paths = write_prediction_log(
        cfg.monitoring.prediction_log_dir, _rows(400), np.full(400, 0.5), end=NOW, rows_per_file=200
    )
    broken = paths[-1]
    broken.write_bytes(broken.read_bytes()[:300])  # truncated mid-copy
    with pytest.raises(CorruptLogError) as err:
        read_window(cfg, predictions=400)
    assert str(broken) in str(err.value) and "quarantine" in str(err.value)


def test_files_being_written_are_ignored(cfg):
    log_dir = cfg.monitoring.prediction_log_dir
    write_prediction_log(log_dir, _rows(50), np.full(50, 0.5), end=NOW)
    day = next(log_dir.iterdir())
    (day / ".part-123-abc.parquet.tmp").write_bytes(b"PAR1 half written")
    assert read_window(cfg, predictions=100).n_predictions == 50
