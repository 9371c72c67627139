"""``imdbops replay``: the lifecycle over time, in minutes (docs/operating.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from imdbops.cli.common import State, UserError, user_errors


def replay(
    ctx: typer.Context,
    project: Path = typer.Argument(
        ..., help="A new or empty folder: the replay's own project (warehouse, registry, log)."
    ),
    first: str = typer.Option(
        "1994-12-31", "--first", help="The first snapshot's date (YYYY-MM-DD)."
    ),
    periods: int = typer.Option(6, "--periods", "-n", min=1, max=400, help="Snapshots to play."),
    period_months: int = typer.Option(
        12, "--period-months", min=1, max=120, help="Months between snapshots."
    ),
    rating_delay_days: int = typer.Option(
        365,
        "--rating-delay-days",
        min=0,
        help="Days from a title's release to its rating (0.5x to 1.5x, per title).",
    ),
    rating_walk: float = typer.Option(
        0.05, "--rating-walk", min=0.0, max=1.0, help="How far published ratings move a period."
    ),
    max_titles: int | None = typer.Option(
        None, "--max-titles", min=50, help="Replay a fixed subset of this many titles."
    ),
    basics: Path | None = typer.Option(
        None, "--basics", help="IMDb title.basics.tsv.gz to replay (default: the bundled set)."
    ),
    ratings: Path | None = typer.Option(
        None, "--ratings", help="IMDb title.ratings.tsv.gz (with --basics)."
    ),
    train: str = typer.Option(
        "every",
        "--train",
        help="every: the training DAG each period; on-trigger: first period, then only when "
        "drift or a performance drop triggers it (monitor --retrain).",
    ),
    requests: int = typer.Option(
        200, "--requests", min=0, max=100_000, help="New titles the API is asked about a period."
    ),
    gc: bool = typer.Option(False, "--gc", help="Run `imdbops gc` after each period."),
    port: int | None = typer.Option(None, "--port", help="The API's port (default: a free one)."),
    warm: bool = typer.Option(
        False,
        "--warm",
        help="Run each command in a fresh fork of one process that imported the libraries "
        "once: the same commands without their start-up time (step times then leave it out).",
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the rating moves."),
) -> None:
    """Replay dated IMDb snapshots through the real commands and a running API.

    Each period: ingest the snapshot, build the warehouse, the training DAG and its gate,
    API traffic about the titles just released, batch scores for the unrated ones, the
    drift check and `monitor performance` on the ratings that arrived. The product's clock
    reads the period's date (IMDBOPS_NOW). Ends with PROJECT/replay/report.html and
    replay.json. The stack is the configured one (local files by default).
    """
    from imdbops.replay.periods import TRAIN_POLICIES
    from imdbops.replay.session import ReplayOptions, run_replay
    from imdbops.replay.snapshots import SnapshotPlan

    state: State = ctx.obj if isinstance(ctx.obj, State) else State()
    with user_errors():
        if train not in TRAIN_POLICIES:
            raise UserError(f"--train {train!r}: use one of {', '.join(TRAIN_POLICIES)}")
        try:
            first_day = date.fromisoformat(first)
        except ValueError:
            raise UserError(f"--first {first!r} is not a date: use YYYY-MM-DD") from None
        plan = SnapshotPlan(
            first=first_day,
            periods=periods,
            period_months=period_months,
            rating_delay_days=rating_delay_days,
            rating_walk=rating_walk,
            max_titles=max_titles,
            seed=seed,
        )
        options = ReplayOptions(
            project=project,
            plan=plan,
            basics=basics,
            ratings=ratings,
            config=state.config_path.resolve() if state.config_path else None,
            train=train,
            requests=requests,
            gc=gc,
            port=port,
            warm=warm,
        )

        def said(p: dict) -> None:
            t = p.get("training") or {}
            drift = p.get("drift") or {}
            typer.echo(
                f"{p['date']}: {p['snapshot']['titles']:,} titles "
                f"({p['snapshot']['unrated']:,} unrated); "
                + (f"v{t.get('version')} {t.get('decision')}; " if t.get("fresh") else "")
                + f"champion v{p.get('champion')}; drift share {drift.get('drift_share')}; "
                f"performance {(p.get('performance') or {}).get('verdict')}; "
                f"{sum(p['steps'].values()):.0f}s"
            )

        html = run_replay(options, on_period=said)
    typer.echo(f"report: {html} (numbers: {html.with_name('replay.json')})")
