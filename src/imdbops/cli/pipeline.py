"""``imdbops pipeline``: run, resume, inspect and draw the training DAG.

The DAG definition lives in ``imdbops.pipelines.training``; this module only turns options
into a Runner call and prints what happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from pathlib import Path

import typer

from imdbops.cli.common import UserError, get_config, user_errors

app = typer.Typer(
    help="Run the training DAG (extract -> ... -> promote) with caching and resume.",
    epilog="Docs: docs/pipeline.md.",
    no_args_is_help=True,
)


def _runner(
    cfg, workers: int, live: bool | None = None, lock_wait_s: float = 0.0, dag=None,
    lease_ttl_s: float | None = None,
):  # fmt: skip
    """(dag, runner, progress) for the training DAG, or for ``dag`` (e.g. imdb_scoring).

    ``lease_ttl_s``: a whole run holds the artifact store's lease (None: one task, none)."""
    from imdbops.orchestrator import Runner
    from imdbops.orchestrator.progress import LiveProgress
    from imdbops.pipelines.contract import CODE_PACKAGES
    from imdbops.pipelines.training import build_dag
    from imdbops.run_state import state_store

    _refresh_warehouse_source(cfg)
    dag = dag if dag is not None else build_dag(cfg)
    progress = LiveProgress(dag.topological_order(), title=dag.name, live=live)
    runner = Runner(
        dag,
        store=state_store(cfg),
        workers=workers,
        resources={"cfg": cfg},
        code_packages=CODE_PACKAGES,
        on_event=progress,
        lock_wait_s=lock_wait_s,
        lease_ttl_s=lease_ttl_s,
    )
    return dag, runner, progress


def _refresh_warehouse_source(cfg) -> None:
    """A warehouse server's fingerprint (the extract's source) as the server has it now:
    another machine may have loaded it. DuckDB's file is its own fingerprint."""
    if cfg.warehouse.backend != "duckdb":
        from imdbops.dataops.warehouse_backends import WarehouseError, refresh_source

        try:
            refresh_source(cfg)
        except WarehouseError as exc:
            raise UserError(str(exc)) from None


def _meta(cfg) -> dict:
    import imdbops
    from imdbops.provenance import git_commit

    # The commit of the code that ran; the project folder is often not a repository.
    code_dir = Path(imdbops.__file__).parent
    return {
        "config_hash": cfg.fingerprint(),
        "git_commit": git_commit(code_dir) or git_commit(cfg.paths.root),
        "root": str(cfg.paths.root),
    }


def _execute(
    ctx: typer.Context, explain: bool, workers: int, wait_s: float | None, **run_kwargs
) -> None:
    cfg = get_config(ctx, "pipeline")
    cfg.ensure_dirs()
    wait_s = cfg.pipeline.lease_wait_s if wait_s is None else wait_s
    dag, runner, progress = _runner(
        cfg, workers, lock_wait_s=wait_s, lease_ttl_s=cfg.pipeline.lease_ttl_s
    )
    with progress:
        result = runner.run(meta=_meta(cfg), **run_kwargs)
    if explain:
        _print_explain(result.tasks, dag.topological_order())
    if not result.ok:
        raise UserError(
            f"{result.error_summary()}\nmanifest: {result.manifest.path}\n"
            f"fix the problem, then: imdbops pipeline resume {result.run_id}"
        )
    typer.echo(f"run {result.run_id} succeeded; manifest: {result.manifest.path}")
    if cfg.retention.gc_after_run:
        _gc_after_run(cfg)
    promote = result.tasks.get("promote") or {}
    decision = promote.get("result") if isinstance(promote.get("result"), dict) else None
    metrics = (result.tasks.get("evaluate") or {}).get("result")
    _print_outcome(
        cfg,
        reused=promote.get("decision") == "skipped",
        decision=decision,
        metrics=metrics if isinstance(metrics, dict) else None,
    )


def _gc_after_run(cfg) -> None:
    """``retention.gc_after_run``: the run's locks are released by now; gc takes them again
    (waiting for another run rather than failing this one)."""
    from imdbops.lifecycle import gc

    result = gc.run(cfg, lock_wait_s=gc.LOCK_WAIT_S)
    removed = len(result.remove) + len(result.resumed)
    typer.echo(f"gc after the run (retention.gc_after_run): removed {removed} item(s)")


def _print_outcome(
    cfg, reused: bool = False, decision: dict | None = None, metrics: dict | None = None
) -> None:
    """The champion question people run the pipeline for: how good, versus what, and who won.

    ``decision`` and ``metrics``: the promote and evaluate tasks' results in this run's
    manifest, which a cache hit carries too, so a fresh machine that fetched nothing still
    prints them (else the catalog's files).
    """
    import json

    from rich.console import Console
    from rich.table import Table

    from imdbops.pipelines.training import catalog

    where = catalog(cfg)
    metrics_file = where["evaluation"].file("metrics")
    if metrics is None and metrics_file.exists():
        metrics = json.loads(metrics_file.read_text())
    if metrics:
        from imdbops.mlops.evaluate import comparison_table

        table = Table(
            title="test split: this model vs baselines (same split)",
            caption=f"model = {cfg.training.model!r} given every input; (t+g) = title and "
            "genres only, which is all the logreg baseline sees",
        )
        for col in ("metric", "model", "model (t+g)", "logreg", "majority"):
            table.add_column(col, justify="right")
        for name, *values in comparison_table(metrics):
            table.add_row(
                name, *(f"{v:.4f}" if isinstance(v, int | float) else "-" for v in values)
            )
        Console().print(table)
        if "oot_roc_auc" in metrics:
            typer.echo(
                f"out-of-time holdout ({int(metrics['oot_rows'])} newest titles): ROC-AUC "
                f"{metrics['oot_roc_auc']:.4f} (random holdout {metrics['test_roc_auc']:.4f})"
            )
    if decision is None and where["decision"].path.exists():
        decision = json.loads(where["decision"].path.read_text())
    if decision is not None:
        typer.echo(
            f"promotion{' (unchanged: nothing new to decide, from an earlier run)' if reused else ''}"
            f": {decision.get('decision')} version {decision.get('challenger_version')}"
            f" - {decision.get('reason')}"
        )


def _print_explain(tasks: dict, order: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="why each task ran or was skipped")
    for col in ("task", "decision", "why"):
        table.add_column(col, overflow="fold")
    for name in order:
        info = tasks.get(name) or {}
        reasons = list(info.get("reasons") or [])
        if info.get("error"):
            reasons.append(f"error: {info['error']}")
        decision = info.get("decision") or info.get("state", "-")
        table.add_row(name, decision, "\n".join(reasons) or "-")
    Console().print(table)
    checks = {n: i["external_check_s"] for n, i in tasks.items() if "external_check_s" in i}
    if checks:
        typer.echo(
            f"checked external outputs in {sum(checks.values()):.2f} s "
            f"({', '.join(f'{n} {s:.2f}' for n, s in checks.items())})"
        )


WORKERS = typer.Option(2, "--workers", "-w", min=1, help="Tasks to run at the same time.")
WAIT = typer.Option(
    None,
    "--wait",
    min=0,
    help="Seconds to wait for another run of the DAG (here, or on any machine sharing "
    "paths.artifacts_url) to end before refusing (default: pipeline.lease_wait_s, 0).",
)


@app.command("run")
def run(
    ctx: typer.Context,
    explain: bool = typer.Option(
        False, "--explain", help="Print, per task, whether it ran or was skipped and why."
    ),
    force: list[str] = typer.Option(
        [], "--force", help="Re-run this task even if its cache is valid (repeatable)."
    ),
    from_task: str | None = typer.Option(
        None, "--from", help="Re-run this task and everything downstream of it."
    ),
    run_id: str | None = typer.Option(None, "--run-id", help="Name the run (default: time-based)."),
    workers: int = WORKERS,
    wait: float | None = WAIT,
) -> None:
    """Run the training DAG; unchanged tasks are skipped from the cache."""
    with user_errors():
        _execute(ctx, explain, workers, wait, force=force, from_task=from_task, run_id=run_id)


@app.command("resume")
def resume(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="The run to continue (see `imdbops pipeline status`)."),
    explain: bool = typer.Option(False, "--explain", help="Print why each task ran or not."),
    workers: int = WORKERS,
    wait: float | None = WAIT,
) -> None:
    """Continue a failed or killed run without redoing its finished tasks (a task the run
    was started with ``--force``/``--from`` for and had not finished still re-runs)."""
    with user_errors():
        _execute(ctx, explain, workers, wait, run_id=run_id, resume=True)


@app.command("show")
def show(
    ctx: typer.Context,
    out_dir: Path | None = typer.Option(
        None, "--out", help="Folder for dag.mmd and dag.dot (default: <reports>/pipeline)."
    ),
    run_id: str | None = typer.Option(
        None, "--run-id", help="Colour the picture by this run's task states."
    ),
) -> None:
    """Print the DAG as text and write Mermaid (.mmd) and Graphviz (.dot) pictures."""
    with user_errors():
        from imdbops.atomic import atomic_write_text
        from imdbops.orchestrator import Manifest
        from imdbops.orchestrator.render import to_dot, to_mermaid, to_text
        from imdbops.pipelines.training import build_dag
        from imdbops.run_state import state_store

        cfg = get_config(ctx, "pipeline-show")
        dag = build_dag(cfg)
        states = {}
        if run_id:
            manifest = Manifest.load(state_store(cfg), run_id)
            states = {n: i.get("state", "pending") for n, i in manifest.tasks.items()}
        out_dir = out_dir or cfg.paths.reports_dir / "pipeline"
        mmd = atomic_write_text(out_dir / "dag.mmd", to_mermaid(dag, states))
        dot = atomic_write_text(out_dir / "dag.dot", to_dot(dag, states))
        typer.echo(to_text(dag, states))
        typer.echo(f"\nwrote {mmd}\nwrote {dot}  (render: dot -Tsvg {dot} -o dag.svg)")


@app.command("status")
def status(
    ctx: typer.Context,
    run_id: str | None = typer.Argument(None, help="Run id (default: the latest run)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Summarise a run: state, timing and reason per task, plus the errors."""
    with user_errors():
        from rich.console import Console
        from rich.table import Table

        from imdbops.orchestrator import Manifest, list_runs
        from imdbops.run_state import state_store

        cfg = get_config(ctx, "pipeline-status")
        store = state_store(cfg)
        runs = list_runs(store)  # reads every manifest's header: once, not twice
        if run_id is None:
            if not runs:
                raise UserError(
                    f"no runs under {store.describe()} yet; start one with `imdbops pipeline run`"
                )
            manifest = Manifest.load(store, runs[-1])
        else:
            manifest = Manifest.load(store, run_id)
        data = manifest.data
        if as_json:
            typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
            return
        console = Console()
        console.print(
            f"run [bold]{data['run_id']}[/] ({data.get('dag')}): [bold]{data.get('status')}[/]  "
            f"started {data.get('started_at')}  finished {data.get('finished_at') or '-'}\n"
            f"git {data.get('git_commit') or '-'}  config {data.get('config_hash') or '-'}  "
            f"resumed {len(data.get('resumed') or [])}x  "
            f"({len(runs)} runs in total)",
            highlight=False,
        )
        table = Table()
        for col in ("task", "state", "seconds", "why / error"):
            table.add_column(col, overflow="fold")
        order = data.get("order") or []
        names = [n for n in order if n in data["tasks"]]
        names += [n for n in data["tasks"] if n not in names]
        for name in names:
            info = data["tasks"][name]
            why = info.get("error") or "; ".join(info.get("reasons") or [])
            secs = info.get("duration_s")
            table.add_row(name, info.get("state", "-"), f"{secs:.2f}" if secs else "-", why)
        console.print(table)


@app.command("task")
def run_task(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="One task of the training DAG, e.g. `train`."),
    run_id: str | None = typer.Option(
        None, "--run-id", help="Record into this run's manifest (shared by the tasks of a run)."
    ),
    upstream: list[str] = typer.Option(
        [],
        "--upstream",
        help="JSON printed by an upstream task; its output hashes are checked against "
        "this task's inputs before running (repeatable).",
    ),
) -> None:
    """Run exactly one task (inputs from earlier tasks must exist); print its outputs as JSON.

    This is what the Airflow DAG calls: stdout is that one JSON line (the task's XCom
    value; pipe it into `jq`), every log line and progress message goes to stderr.
    """
    run_task_command(ctx, "imdbops.pipelines.training", "pipeline", name, run_id, upstream)


def run_task_command(
    ctx: typer.Context, dag_module: str, label: str, name: str, run_id: str | None,
    upstream: list[str],
) -> None:  # fmt: skip
    """``<label> task NAME``: one task of the DAG that ``dag_module`` builds (its
    ``TASK_NAMES`` and ``build_dag``), its report printed as the last stdout line."""
    with user_errors():
        import importlib

        module = importlib.import_module(dag_module)
        cfg = get_config(ctx, f"{label}-task-{name}")
        if name not in module.TASK_NAMES:
            raise UserError(f"unknown task {name!r}; tasks: {', '.join(module.TASK_NAMES)}")
        cfg.ensure_dirs()
        with stdout_to_stderr():
            report = run_one_task(cfg, module.build_dag(cfg), name, run_id, upstream)
        typer.echo(json.dumps(report, sort_keys=True))


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to stdout in the block to stderr, at the descriptor level so
    that libraries (MLflow's run links) and task subprocesses are caught too."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_one_task(cfg, dag, name: str, run_id: str | None, upstream: list[str]) -> dict:
    """Run one task of ``dag`` (what Airflow runs) after checking its upstream reports;
    returns its report. Any DAG (training, scoring)."""
    from imdbops.orchestrator.cache import hash_path

    # Two Airflow runs may overlap: queue behind the other instead of failing.
    _, runner, progress = _runner(cfg, workers=1, live=False, lock_wait_s=6 * 3600, dag=dag)
    expected = _check_upstream(dag, name, upstream, hash_path, runner.store.remote)
    with progress:
        result = runner.run(only=[name], run_id=run_id, meta=_meta(cfg), expected_inputs=expected)
    if not result.ok:
        raise UserError(f"{result.error_summary()}\nmanifest: {result.manifest.path}")
    return task_report(dag, name, result)


def task_report(dag, name: str, result) -> dict:
    """What one task run prints last for Airflow's XCom: its files with their hashes, and
    its external outputs with their identity and record. Any DAG (training, scoring)."""
    info = result.tasks[name]
    outputs = dag.tasks[name].outputs
    return {
        "task": name,
        "run_id": result.run_id,
        "decision": info.get("decision"),
        "reasons": info.get("reasons"),
        "outputs": {
            a: {"path": str(dag.catalog[a]), "sha256": info["output_hashes"].get(a)}
            for a in outputs
            if a in dag.catalog
        },
        "external": {
            a: {
                "identity": dict(dag.externals[a].identity),
                "record": (info.get("external") or {}).get(a),
            }
            for a in outputs
            if a in dag.externals
        },
    }


def _check_upstream(dag, name: str, upstream: list[str], hash_path, remote: bool) -> dict:
    """Refuse to run on inputs that differ from what the upstream task reported; returns
    the reported versions (a remote artifact store fetches exactly those)."""
    wanted = set(dag.tasks[name].inputs)
    expected = {}
    for raw in upstream:
        try:
            report = json.loads(raw)
            outputs = report["outputs"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UserError(
                f"--upstream is not the JSON printed by `imdbops pipeline task`: "
                f"{shlex.quote(raw[:200])}"
            ) from None
        for artifact, out in outputs.items():
            if artifact not in wanted:
                continue
            expected[artifact] = out.get("sha256")
            if remote:
                continue  # fetched from the store by that hash, verified on arrival
            current = hash_path(out["path"])
            if current != out.get("sha256"):
                raise UserError(
                    f"input {artifact!r} at {out['path']} changed since task "
                    f"{report.get('task')!r} wrote it (expected sha256 {out.get('sha256')}, "
                    f"found {current}); re-run {report.get('task')!r}"
                )
    return expected
