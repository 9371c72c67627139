"""``imdbops monitor``: drift checks, delayed-ground-truth performance, replay, status.

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
    epilog="Docs: docs/monitoring.md.",
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
        _prune_reports(cfg)
        _print_summary(result.summary, as_json)
    raise typer.Exit(result.exit_code)


def _prune_reports(cfg) -> None:
    """Each run writes a report folder: keep the newest retention.keep_reports (docs/gc.md),
    so a scheduled monitor job keeps its volume bounded with no gc job beside it."""
    from imdbops.lifecycle.reports import prune

    prune(cfg)


@app.command("performance")
def performance(
    ctx: typer.Context,
    retrain: bool = typer.Option(
        False, "--retrain", help="On a performance drop, run the training DAG (as for drift)."
    ),
    no_api: bool = typer.Option(
        False, "--no-api", help="Batch scores only; skip API predictions from the log."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the report as one JSON line (the last line of stdout)."
    ),
) -> None:
    """Measure stored predictions against the ratings that arrived since they were made.

    Joins batch scores (`imdbops score`) and API predictions sent with a tconst with the
    ratings now in the warehouse; reports per model version and scoring month, and champion
    vs each shadow version (serving.shadow) on the same rated titles. Exit codes:
    0 ok or no_labels_yet, 3 performance_drop (beyond monitoring.performance_drop), 2 bad
    input (no warehouse, corrupted log file), 1 other errors.
    """
    from imdbops.dataops.warehouse_backends import WarehouseError
    from imdbops.monitoring.performance import exit_code, run_performance, save
    from imdbops.monitoring.window import WindowError

    cfg = get_config(ctx, "monitor-performance")
    with user_errors():
        with _spinner("matching predictions with ratings"):
            try:
                report = run_performance(cfg, include_api=not no_api)
            except (WarehouseError, WindowError) as exc:
                fail(str(exc), code=2)
        if retrain and report["verdict"] == "performance_drop":
            from imdbops.monitoring.retrain import trigger_retrain

            state = ctx.obj if isinstance(ctx.obj, State) else State()
            with _spinner("performance drop: running the training DAG"):
                report["retrain"] = trigger_retrain(cfg, state.config_path)
            save(cfg, report)
        _prune_reports(cfg)
    _print_performance(report, as_json)
    raise typer.Exit(exit_code(report))


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


def _print_performance(report: dict, as_json: bool) -> None:
    if as_json:  # one line, last on stdout: log lines may precede it
        typer.echo(json.dumps(report, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if report["verdict"] == "no_labels_yet":
        console.print(
            "no_labels_yet: no stored prediction has a rating yet; ingest a later IMDb dump "
            "(`imdbops data ingest`) and run this again"
        )
        return

    def num(v) -> str:
        return "-" if v is None else f"{v:.3f}"

    table = Table(title=f"performance {report['run_id']}: {report['verdict'].upper()}")
    cols = ("version", "month", "rows", "ROC-AUC", "holdout ROC-AUC", "gap", "accuracy", "Brier")
    for col in cols:
        table.add_column(col, justify="left" if col in ("version", "month") else "right")
    for v in report["versions"]:
        m, vs = v["metrics"], v.get("versus_holdout") or {}
        table.add_row(
            v["model_version"], "all", str(v["rows"]), num(m["roc_auc"]), num(vs.get("holdout")),
            num(vs.get("gap")), num(m["accuracy"]), num(m["brier"]),
        )  # fmt: skip
        for month in v["months"]:
            mm = month["metrics"]
            table.add_row(
                "", month["month"], str(month["rows"]), num(mm["roc_auc"]), "", "",
                num(mm["accuracy"]), num(mm["brier"]),
            )  # fmt: skip
    console.print(table)
    for v in report["versions"]:
        bins = [b for b in v["calibration"] if b["rows"]]
        console.print(
            f"v{v['model_version']} calibration (predicted -> observed): "
            + ", ".join(
                f"{b['mean_predicted']:.2f}->{b['observed_rate']:.2f} ({b['rows']})" for b in bins
            )
        )
        if v["drop"] is not None:
            console.print(
                f"v{v['model_version']}: {v['drop_metric']} drop {v['drop']:+.3f} "
                f"(allowed {report['performance_drop']:.3f})"
                + (
                    ""
                    if v["enough_rows"]
                    else f"; fewer than {report['min_rows']} rows, no verdict"
                )
            )
    shadow = report.get("shadow") or {}
    for c in shadow.get("comparisons") or []:
        d = (c.get("difference") or {}).get(shadow.get("metric")) or {}
        interval = (
            f"{d['difference']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"
            if d
            else "no CI yet"
        )
        console.print(
            f"shadow v{c['shadow_version']} vs champion v{c['champion_version']} on "
            f"{c['titles']} labelled titles: ROC-AUC {num(c['shadow']['roc_auc'])} vs "
            f"{num(c['champion']['roc_auc'])}, log loss {num(c['shadow']['loss'])} vs "
            f"{num(c['champion']['loss'])}; {shadow.get('metric')} difference {interval}"
        )
    retrain = report.get("retrain")
    if retrain:
        decision = retrain.get("decision") or {}
        console.print(
            f"retrain: {retrain['status']}; gate decision: "
            f"{decision.get('decision', 'none') if isinstance(decision, dict) else decision}"
        )
