"""`imdbops monitor run` first converts the prediction-log segments a killed server left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.monitoring import wal
from imdbops.monitoring.drift_metrics import read_latest_summary

# Logs the held-out movies through a real PredictionLog, then dies by SIGKILL before any
# flush (the interval is an hour): every record is only in its write-ahead segment.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import pandas as pd
    from imdbops.config import load_config
    from imdbops.monitoring.prediction_log import PredictionLog
    root, frame = sys.argv[1], pd.read_parquet(sys.argv[2])
    cfg = load_config(paths={"root": root},
                      monitoring={"flush_interval_s": 3600, "flush_max_records": 10**9})
    log = PredictionLog(cfg)
    for i, row in enumerate(frame.itertuples(index=False)):
        log.record([{"ts": time.time(), "request_id": f"r{i}", "title": row.title,
                     "genres": row.genres, "year": float(row.year),
                     "runtime_minutes": float(row.runtime_minutes),
                     "probability": float(row.probability), "label": int(row.probability >= .5),
                     "model_version": "1", "latency_ms": 1.0}])
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_monitor_run_recovers_a_killed_servers_segments_first(cfg, streams, tmp_path):
    frame = streams.heldout.head(300).copy()
    frame["probability"] = streams.heldout_proba[:300]
    frame["genres"] = frame["genres"].map(lambda g: g if isinstance(g, str) else ",".join(g))
    source = tmp_path / "rows.parquet"
    frame[["title", "genres", "year", "runtime_minutes", "probability"]].to_parquet(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(cfg.paths.root), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    segments = wal.wal_dir(cfg.monitoring.prediction_log_dir)
    assert len(list(segments.glob("*.wal"))) == 1
    assert not list(cfg.monitoring.prediction_log_dir.rglob("*.parquet"))

    result = CliRunner().invoke(
        app, ["monitor", "run", "--reference", str(streams.profile_path)], catch_exceptions=False
    )
    assert result.exit_code in (0, 3), result.output
    assert "recovered 300 logged predictions from 1 segment(s)" in result.output
    assert read_latest_summary(cfg)["window"]["n_predictions"] == 300
    assert not list(segments.glob("*.wal"))
