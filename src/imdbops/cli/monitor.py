"""``imdbops monitor``: drift checks over the prediction log, traffic replay, status.

Exit codes of ``monitor run``: 0 no drift, 3 drift (share at or over
``monitoring.drift_threshold``), 2 bad input (empty window, no reference profile,
corrupted log file), 1 anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from imdbops.cli.common import State, fail, get_config, user_errors

app = typer.Typer(
    help="Drift checks on logged predictions, traffic replay and the latest result.",
    no_args_is_help=True,
)


@app.command("run")
def run(
    ctx: typer.Context,
    retrain: bool = typer.Option(
        False, "--retrain", help="On drift, run the training DAG; its promotion gate decides."
    ),
    hours: float | None = typer.Option(
        None, "--hours", help="Window: the last H hours (default: monitoring.window_hours)."
    ),
    predictions: int | None = typer.Option(
        None,
        "--predictions",
        help="Window: the last N predictions (default: monitoring.window_predictions).",
    ),
    reference: Path | None = typer.Option(
        None, "--reference", help="A reference_profile.json to use instead of the registry's."
    ),
    model_version: str | None = typer.Option(
        None,
        "--model-version",
        help="Compare with this version's profile (default: the one in the log).",
    ),
    textfile: Path | None = typer.Option(
        None, "--textfile", help="Also write the gauges as a node-exporter .prom textfile."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Compare a window of logged traffic with the model's training profile (Evidently).

    First converts prediction-log segments that stopped (or killed) servers left behind.

    Exit codes: 0 no drift, 3 drift (share >= monitoring.drift_threshold), 2 bad input
    (empty window, no reference profile, corrupted log file), 1 other errors.
    """
    from imdbops.monitoring.drift import DriftInputError, record_retrain, run_drift_job

    cfg = get_config(ctx, "monitor-run")
    with user_errors():
        _recover_segments(cfg)
        with _spinner("checking drift (Evidently)"):
            try:
                result = run_drift_job(
                    cfg,
                    reference_path=reference,
                    model_version=model_version,
                    hours=hours,
                    predictions=predictions,
                    textfile=textfile,
                )
            except DriftInputError as exc:
                fail(str(exc), code=2)
        if retrain and result.summary["drift_detected"]:
            from imdbops.monitoring.retrain import trigger_retrain

            state = ctx.obj if isinstance(ctx.obj, State) else State()
            with _spinner("drift: running the training DAG"):
                record_retrain(cfg, result, trigger_retrain(cfg, state.config_path))
        _print_summary(result.summary, as_json)
    raise typer.Exit(result.exit_code)


@app.command("simulate")
def simulate(
    ctx: typer.Context,
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The running server."),
    drifted: bool = typer.Option(
        False, "--drifted", help="Only Documentary and Short titles (a drifted population)."
    ),
    n: int = typer.Option(500, "--n", min=1, max=100_000, help="Movies to send."),
    rate: float = typer.Option(50.0, "--rate", min=0.1, max=1000, help="Requests per second."),
    batch: int = typer.Option(1, "--batch", min=1, max=1000, help="Movies per request."),
    seed: int = typer.Option(7, "--seed", help="Sampling seed."),
) -> None:
    """Replay held-out (or drifted) movies against a running server."""
    from rich.progress import Progress

    from imdbops.monitoring.simulate import SimulateError, replay, replay_frame

    cfg = get_config(ctx, "monitor-simulate")
    with user_errors():
        try:
            frame, source = replay_frame(cfg, drifted=drifted, n=n, seed=seed)
            typer.echo(f"replaying {len(frame)} movies from {source} to {url}")
            with Progress(transient=True) as progress:
                task = progress.add_task("sending", total=len(frame))
                stats = replay(
                    url,
                    frame,
                    rate=rate,
                    batch=batch,
                    on_progress=lambda k: progress.advance(task, k),
                )
        except SimulateError as exc:
            fail(str(exc), code=2)
    like = f"{stats.likes / stats.ok:.0%}" if stats.ok else "n/a"
    typer.echo(
        f"sent {stats.sent} in {stats.seconds:.1f}s: {stats.ok} ok, {stats.failed} failed, "
        f"like-rate {like}"
    )
    for err in stats.errors:
        typer.secho(f"  {err}", fg=typer.colors.YELLOW, err=True)
    if stats.ok == 0:
        fail(f"no request succeeded; is the server running at {url}?", code=1)


@app.command("status")
def status(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Show the latest drift result (exit 3 if it found drift)."""
    from imdbops.monitoring.drift_metrics import latest_summary_path, read_latest_summary

    cfg = get_config(ctx, "monitor-status")
    summary = read_latest_summary(cfg)
    if summary is None:
        fail(f"no drift result at {latest_summary_path(cfg)}; run `imdbops monitor run`", code=2)
    _print_summary(summary, as_json)
    raise typer.Exit(3 if summary.get("drift_detected") else 0)


def _recover_segments(cfg) -> None:
    """First, predictions that killed servers left in write-ahead segments go to Parquet."""
    from imdbops.monitoring.prediction_log import recover_segments

    result = recover_segments(cfg)
    if result.segments:
        typer.echo(
            f"recovered {result.records} logged predictions from {result.segments} segment(s) "
            "left by stopped servers",
            err=True,
        )
    if result.failed:
        typer.secho(
            f"warning: {result.failed} prediction-log segment(s) could not be recovered (see the "
            "log); their predictions are missing from this window",
            fg=typer.colors.YELLOW,
            err=True,
        )


class _spinner:
    def __init__(self, text: str):
        from rich.console import Console

        self._status = Console(stderr=True).status(text)

    def __enter__(self):
        self._status.__enter__()
        return self

    def __exit__(self, *exc):
        self._status.__exit__(*exc)
        return False


def _print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    window = summary.get("window", {})
    table = Table(title=f"drift run {summary['run_id']}: {summary['status'].upper()}")
    table.add_column("feature")
    table.add_column("method")
    table.add_column("score", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("drifted")
    for name, f in sorted(summary.get("features", {}).items(), key=lambda kv: -kv[1]["score"]):
        table.add_row(
            name,
            f["method"],
            f"{f['score']:.4f}",
            f"{f['threshold']:.2f}",
            "yes" if f["drifted"] else "",
        )
    console = Console()
    console.print(table)
    console.print(
        f"drift share {summary['drift_share']:.2f} (threshold {summary['drift_threshold']:.2f}) "
        f"over {window.get('n_predictions')} predictions; model {summary.get('model_version')}; "
        f"report {summary.get('report_html')}"
    )
    retrain = summary.get("retrain")
    if retrain:
        decision = retrain.get("decision") or {}
        verdict = decision.get("decision", "none") if isinstance(decision, dict) else decision
        reason = decision.get("reason", "") if isinstance(decision, dict) else ""
        console.print(
            f"retrain: {retrain['status']} in {retrain.get('duration_s')}s; gate decision: "
            f"{verdict} {reason}".rstrip()
            + (
                ""
                if retrain.get("decision_fresh", True)
                else " (previous decision; DAG re-ran nothing)"
            )
        )
        if retrain.get("error"):
            console.print(f"retrain error: {retrain['error']}")
