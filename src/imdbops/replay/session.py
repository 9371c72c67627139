"""A whole replay: snapshots, one API server, every period in order, then the report.

The replay's project is its own folder (``paths.root``): its warehouse, registry, lake and
prediction log are the replay's, so nothing of a real project is touched on the one-machine
stack. On the server stack the configured PostgreSQL, object store and MLflow server are
used as configured; point them at a database, bucket and experiment of their own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.config import Config, load_config
from imdbops.replay import api
from imdbops.replay.commands import Commands
from imdbops.replay.periods import ReplayRun, check_gc, run_period, set_clock
from imdbops.replay.report import write_report
from imdbops.replay.sizes import REPLAY_DIR
from imdbops.replay.snapshots import Snapshot, SnapshotPlan, load_movies, write_snapshots


class ReplaySetupError(ValueError):
    """The replay cannot start; the message says what to change."""


@dataclass
class ReplayOptions:
    project: Path
    plan: SnapshotPlan
    basics: Path | None = None
    ratings: Path | None = None
    config: Path | None = None
    train: str = "every"
    requests: int = 200
    gc: bool = False
    port: int | None = None
    warm: bool = False


def check_project(project: Path) -> Path:
    project = project.expanduser().resolve()
    if project.exists() and any(project.iterdir()):
        raise ReplaySetupError(
            f"{project} is not empty: a replay builds its own project (warehouse, registry, "
            "lake) there; choose a new or empty folder"
        )
    return project


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the API server this replay started is stopped too
    (it runs in its own session and would otherwise outlive a killed replay)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _clock_env(clock_file: Path) -> Iterator[None]:
    """This process reads the replay's clock too (run ids are stamped with it)."""
    old = os.environ.get(clock.ENV)
    os.environ[clock.ENV] = f"@{clock_file}"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(clock.ENV, None)
        else:
            os.environ[clock.ENV] = old


def _stack(cfg: Config) -> str:
    parts = [cfg.warehouse.backend]
    parts.append("object store" if "://" in cfg.paths.artifacts_url else "local artifacts")
    parts.append("MLflow server" if cfg.tracking.uri.startswith("http") else "MLflow on SQLite")
    return ", ".join(parts)


def run_replay(
    options: ReplayOptions, on_period: Callable[[dict[str, Any]], None] | None = None
) -> Path:
    """Run every period; returns the HTML report's path (``<project>/replay/report.html``)."""
    project = check_project(options.project)
    movies = load_movies(options.basics, options.ratings)  # a bad source leaves no folder
    project.mkdir(parents=True, exist_ok=True)
    folder = project / REPLAY_DIR
    clock_file = folder / "clock.json"
    env = {
        "IMDBOPS_PATHS__ROOT": str(project),
        # The replay waits for the server's log flush after each period's traffic.
        "IMDBOPS_MONITORING__FLUSH_INTERVAL_S": "0.5",
    }
    cfg = load_config(options.config, paths={"root": project})
    commands = Commands(
        project, clock_file, folder / "logs", env=env, config=options.config, warm=options.warm
    )
    plan = options.plan
    settings = {
        **{k: str(v) for k, v in asdict(plan).items()},
        "source": str(options.basics) if options.basics else "bundled",
        "train": options.train,
        "requests": options.requests,
        "gc": options.gc,
        "warm": options.warm,
        "stack": _stack(cfg),
        "drift_threshold": cfg.monitoring.drift_threshold,
        "performance_drop": cfg.monitoring.performance_drop,
    }
    periods: list[dict[str, Any]] = []
    snapshots = write_snapshots(movies, plan, folder / "snapshots")
    first: Snapshot = next(snapshots)
    set_clock(clock_file, first)
    started = time.perf_counter()
    with (
        _terminate_cleanly(),
        _clock_env(clock_file),
        api.running_server(commands, options.port) as url,
    ):
        run = ReplayRun(
            commands=commands,
            url=url,
            cfg=cfg,
            # Shorter than any period (28-day months), so the window holds one period only.
            period_hours=plan.period_months * 28 * 24,
            train=options.train,
            requests=options.requests,
            gc=options.gc,
            gc_available=check_gc(commands) if options.gc else False,
        )
        settings["gc_available"] = run.gc_available
        snap: Snapshot | None = first
        while snap is not None:
            periods.append(run_period(run, snap))
            write_report(folder, settings, periods)  # a partial report survives a failure
            if on_period:
                on_period(periods[-1])
            snap = next(snapshots, None)
    settings["seconds"] = round(time.perf_counter() - started, 1)
    return write_report(folder, settings, periods)
