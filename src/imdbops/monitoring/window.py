"""Read a window of the prediction log with DuckDB, touching only the files it needs.

Log layout (written by the serving app): ``<prediction_log_dir>/date=YYYY-MM-DD/
part-<epoch_ms>-<uuid>.parquet``. The epoch in the file name is when the batch was flushed,
so newest-first file order and the date partitions bound what is read: a window of the last
N predictions opens only the newest files whose footers add up to N rows.

Corrupted files fail the read (``CorruptLogError`` naming the file) instead of being skipped:
a drift verdict computed on silently missing traffic would look valid and be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from imdbops import clock
from imdbops.config import Config
from imdbops.genres import IMDB_GENRES
from imdbops.monitoring.log_parts import DAY_DIR, PART_FILE
from imdbops.movies import MODEL_INPUT_COLUMNS

# What the drift job reads of each logged prediction: the model's inputs (the movie record's
# model fields) and the answer.
LOG_COLUMNS = ("ts", *MODEL_INPUT_COLUMNS, "probability", "label")
# Rows handed to Evidently: beyond this a distance-based drift score does not change
# meaningfully, while time and memory keep growing with the window.
DEFAULT_SAMPLE_ROWS = 20_000


class WindowError(ValueError):
    """The log window cannot be used (empty, unreadable); the message names the fix."""


class CorruptLogError(WindowError):
    """A prediction-log file cannot be read (e.g. truncated while being copied)."""


@dataclass(frozen=True)
class LogFile:
    path: Path
    epoch_ms: int
    num_rows: int = 0


@dataclass
class Window:
    files: list[LogFile]
    start: datetime | None
    end: datetime | None
    n_predictions: int
    stats: dict[str, Any] = field(default_factory=dict)
    sample: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Each logged genre string (canonical order) -> rows: exact per-row genre shares.
    genre_combinations: dict[str, int] = field(default_factory=dict)


def fetch_shipped(cfg: Config, since: datetime | None = None) -> int:
    """Apply the log's retention, then download the parts other replicas shipped
    (``monitoring.prediction_log_url``) from the days both ``since`` and retention keep."""
    from imdbops.monitoring.log_retention import cutoff_day, prune
    from imdbops.monitoring.log_ship import LogShipError, fetch_missing

    prune(cfg)
    days = [d for d in (since.date().isoformat() if since else None, cutoff_day(cfg)) if d]
    try:
        return fetch_missing(cfg, max(days) if days else None)
    except LogShipError as exc:
        raise WindowError(str(exc)) from None


def list_log_files(
    cfg: Config, since: datetime | None = None, *, fetch: bool = True
) -> list[LogFile]:
    """Log files newest first; with ``since`` only partitions/files that can hold later rows.

    ``fetch`` first downloads the parts missing locally from the log's object store, if set.
    """
    if fetch:
        fetch_shipped(cfg, since)
    root = cfg.monitoring.prediction_log_dir
    if not root.is_dir():
        return []
    since_day = since.date().isoformat() if since else None
    # A part file holds rows from up to one flush interval before its epoch; keep a margin.
    since_ms = int(since.timestamp() * 1000) - 60_000 if since else None
    found = []
    for part_dir in root.iterdir():
        match = DAY_DIR.match(part_dir.name)
        if not match or not part_dir.is_dir():
            continue
        if since_day and match.group(1) < since_day:
            continue
        for path in part_dir.iterdir():
            part = PART_FILE.match(path.name)
            if part and (since_ms is None or int(part.group(1)) >= since_ms):
                found.append(LogFile(path, int(part.group(1))))
    return sorted(found, key=lambda f: (f.epoch_ms, f.path.name), reverse=True)


def checked_file(log_file: LogFile) -> LogFile:
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(log_file.path).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise CorruptLogError(
            f"prediction log file {log_file.path} is corrupted ({type(exc).__name__}: {exc}); "
            "move it out of the log folder (e.g. to a quarantine folder) and rerun"
        ) from None
    return LogFile(log_file.path, log_file.epoch_ms, rows)


def select_files(
    cfg: Config,
    *,
    hours: float | None = None,
    predictions: int | None = None,
    now: datetime | None = None,
) -> tuple[list[LogFile], datetime | None]:
    """The files that make up the window, footers checked; also the window's lower bound."""
    since = (now or clock.now()) - timedelta(hours=hours) if hours else None
    selected, total = [], 0
    for candidate in list_log_files(cfg, since):
        checked = checked_file(candidate)
        selected.append(checked)
        total += checked.num_rows
        if predictions and not hours and total >= predictions:
            break
    return selected, since


def connect():
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    # The progress bar would print into the CLI's (and the server's) stdout.
    con.execute("SET enable_progress_bar = false")
    return con


def log_relation_sql(files: list[LogFile]) -> str:
    paths = ", ".join("'" + str(f.path).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{paths}], union_by_name = true)"


def _window_sql(files: list[LogFile], since: datetime | None, predictions: int | None) -> str:
    where = f"WHERE ts >= TIMESTAMPTZ '{since.isoformat()}'" if since else ""
    limit = f"ORDER BY ts DESC LIMIT {int(predictions)}" if predictions else ""
    columns = ", ".join((*LOG_COLUMNS, "model_version"))
    return f"SELECT {columns} FROM {log_relation_sql(files)} {where} {limit}"


def _stats_sql(window_table: str) -> str:
    genre_exprs = ", ".join(
        f"avg(CASE WHEN list_contains(string_split(coalesce(genres, ''), ','), '{g}') "
        f'THEN 1 ELSE 0 END) AS "g:{g}"'
        for g in IMDB_GENRES
    )
    return f"""
        SELECT count(*) AS n, min(ts) AS start, max(ts) AS "end",
               avg(label) AS positive_rate, avg(probability) AS mean_probability,
               avg(CASE WHEN year IS NULL OR isnan(year) THEN 1 ELSE 0 END) AS year_missing_rate,
               {genre_exprs}
        FROM {window_table}
    """


def read_window(
    cfg: Config,
    *,
    hours: float | None = None,
    predictions: int | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 42,
    now: datetime | None = None,
) -> Window:
    """Aggregate statistics over the whole window plus a seeded row sample for Evidently."""
    if hours is None and predictions is None:
        raise WindowError(
            "set monitoring.window_hours or monitoring.window_predictions in the config"
        )
    files, since = select_files(cfg, hours=hours, predictions=predictions, now=now)
    if not files:
        raise WindowError(
            f"the prediction log window is empty: no log files under "
            f"{cfg.monitoring.prediction_log_dir}; send traffic to the server "
            "(e.g. `imdbops monitor simulate`) first"
        )
    con = connect()
    try:
        con.execute(f"CREATE TEMP TABLE w AS {_window_sql(files, since, predictions)}")
        row = con.execute(_stats_sql("w")).fetchone()
        cols = [d[0] for d in con.description]
        stats = dict(zip(cols, row, strict=True))
        n = int(stats.pop("n"))
        if n == 0:
            raise WindowError(
                f"the prediction log window is empty: {len(files)} file(s) but no predictions "
                f"in the last {hours} hour(s); widen monitoring.window_hours"
            )
        versions = con.execute(
            "SELECT model_version, count(*) FROM w GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        combinations = con.execute(
            "SELECT coalesce(genres, ''), count(*) FROM w GROUP BY 1"
        ).fetchall()
        columns = ", ".join(c for c in LOG_COLUMNS if c != "ts")
        sample = con.execute(
            f"SELECT {columns} FROM w USING SAMPLE reservoir({int(sample_rows)} ROWS) "
            f"REPEATABLE ({int(seed)})"
        ).df()
    except WindowError:
        raise
    except Exception as exc:
        raise CorruptLogError(
            f"cannot read the prediction log under {cfg.monitoring.prediction_log_dir}: {exc}"
        ) from None
    finally:
        con.close()
    start, end = stats.pop("start"), stats.pop("end")
    genre_freq = {k[2:]: float(stats.pop(k)) for k in list(stats) if k.startswith("g:")}
    return Window(
        files=files,
        start=start,
        end=end,
        n_predictions=n,
        stats={
            **{k: (float(v) if v is not None else None) for k, v in stats.items()},
            "genre_frequencies": genre_freq,
            "model_versions": {str(v): int(c) for v, c in versions},
        },
        sample=sample,
        genre_combinations={str(g): int(c) for g, c in combinations},
    )
