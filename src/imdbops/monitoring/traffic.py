"""Per-minute traffic aggregates from the prediction log, for the monitoring page.

Unlike the drift job, the dashboard skips a corrupted file (and names it in ``problems``):
a live page should keep showing the rest of the traffic while someone fixes the file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from imdbops import clock
from imdbops.config import Config
from imdbops.monitoring.window import (
    CorruptLogError,
    WindowError,
    checked_file,
    connect,
    fetch_shipped,
    list_log_files,
    log_relation_sql,
)

MAX_MINUTES = 7 * 24 * 60


def _empty(minutes: int, since: datetime, now: datetime, problems: list[str]) -> dict[str, Any]:
    return {
        "minutes": minutes,
        "since": since.isoformat(timespec="seconds"),
        "until": now.isoformat(timespec="seconds"),
        "total": 0,
        "p50_latency_ms": None,
        "p99_latency_ms": None,
        "like_rate": None,
        "model_versions": {},
        "series": [],
        "problems": problems,
    }


def traffic_summary(cfg: Config, minutes: int = 60, now: datetime | None = None) -> dict[str, Any]:
    """Counts, p50/p99 latency and like-rate per minute over the last ``minutes``."""
    minutes = max(1, min(int(minutes), MAX_MINUTES))
    now = now or clock.now()
    since = now - timedelta(minutes=minutes)
    files, problems = [], []
    try:
        fetch_shipped(cfg, since)
    except WindowError as exc:  # the page keeps showing the local log meanwhile
        problems.append(str(exc))
    for candidate in list_log_files(cfg, since, fetch=False):
        try:
            files.append(checked_file(candidate))
        except CorruptLogError as exc:
            problems.append(str(exc))
    if not files:
        return _empty(minutes, since, now, problems)
    con = connect()
    try:
        con.execute(
            f"CREATE TEMP TABLE t AS SELECT ts, latency_ms, label, model_version "
            f"FROM {log_relation_sql(files)} WHERE ts >= TIMESTAMPTZ '{since.isoformat()}'"
        )
        series = con.execute(
            """
            SELECT date_trunc('minute', ts) AS minute, count(*) AS n,
                   quantile_cont(latency_ms, 0.5) AS p50, quantile_cont(latency_ms, 0.99) AS p99,
                   avg(label) AS like_rate
            FROM t GROUP BY 1 ORDER BY 1
            """
        ).fetchall()
        total, p50, p99, like_rate = con.execute(
            "SELECT count(*), quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.99), "
            "avg(label) FROM t"
        ).fetchone()
        versions = con.execute(
            "SELECT model_version, count(*) FROM t GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    finally:
        con.close()
    result = _empty(minutes, since, now, problems)
    result.update(
        total=int(total),
        p50_latency_ms=p50,
        p99_latency_ms=p99,
        like_rate=like_rate,
        model_versions={str(v): int(c) for v, c in versions},
        series=[
            {
                "minute": m.astimezone(UTC).isoformat(timespec="minutes"),
                "count": int(n),
                "p50_latency_ms": a,
                "p99_latency_ms": b,
                "like_rate": r,
            }
            for m, n, a, b, r in series
        ],
    )
    return result
