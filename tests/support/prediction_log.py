"""Prediction-log files in the serving app's layout, written without the serving code.

One writer for the monitoring unit and integration tests and ``benchmarks/monitoring.py``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from imdbops.atomic import atomic_path
from imdbops.monitoring.prediction_log import log_schema
from imdbops.movies import predicted_labels


def write_prediction_log(
    log_dir: Path,
    frame: pd.DataFrame,
    proba: np.ndarray,
    *,
    end: datetime | None = None,
    spacing_s: float = 0.5,
    model_version: str = "1",
    rows_per_file: int = 1000,
    seed: int = 0,
) -> list[Path]:
    """Write ``frame`` (model-input columns) + probabilities as log part files.

    Rows are spaced ``spacing_s`` apart and end at ``end`` (default now); latency is drawn
    from a lognormal around a few milliseconds.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    end = end or datetime.now(UTC)
    n = len(frame)
    rng = np.random.default_rng(seed)
    ts = pd.Series(
        [end - timedelta(seconds=spacing_s * (n - 1 - i)) for i in range(n)],
        dtype="datetime64[us, UTC]",
    )
    proba = np.asarray(proba, dtype="float64")
    data = pd.DataFrame(
        {
            "ts": ts,
            "request_id": [uuid.uuid4().hex for _ in range(n)],
            "title": frame["title"].astype(str).to_numpy(),
            "genres": frame["genres"].fillna("").astype(str).to_numpy(),
            "year": pd.to_numeric(frame["year"], errors="coerce").astype("float64").to_numpy(),
            "runtime_minutes": pd.to_numeric(frame["runtime_minutes"], errors="coerce")
            .astype("float64")
            .to_numpy(),
            "probability": proba,
            "label": predicted_labels(proba).astype("int8"),
            "model_version": model_version,
            "latency_ms": rng.lognormal(mean=1.2, sigma=0.5, size=n),
            "tconst": pd.Series([None] * n, dtype=object),
            "role": pd.Series([None] * n, dtype=object),
        }
    )
    paths = []
    for start in range(0, n, rows_per_file):
        chunk = data.iloc[start : start + rows_per_file]
        last = chunk["ts"].iloc[-1]
        epoch_ms = int(last.timestamp() * 1000)
        folder = Path(log_dir) / f"date={last.strftime('%Y-%m-%d')}"
        path = folder / f"part-{epoch_ms}-{uuid.uuid4().hex[:8]}.parquet"
        table = pa.Table.from_pandas(chunk, schema=log_schema(), preserve_index=False)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        paths.append(path)
    return paths


def split_bundled(n_reference: int = 4000, n_current: int = 2000, seed: int = 0):
    """Disjoint reference / held-out / drifted (Documentary or Short only) model-input frames."""
    from imdbops.monitoring.simulate import bundled_model_frame, drifted_rows

    frame = bundled_model_frame().sample(frac=1.0, random_state=seed).reset_index(drop=True)
    reference = frame.iloc[:n_reference]
    rest = frame.iloc[n_reference:]
    heldout = rest.iloc[:n_current]
    drifted = drifted_rows(rest.iloc[n_current:]).iloc[:n_current]
    return reference, heldout, drifted
