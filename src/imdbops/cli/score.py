"""``imdbops score``: batch-score movies with the champion; run the ``imdb_scoring`` DAG.

``imdbops score --warehouse`` scores every unrated movie in the raw tables (``--all``: every
movie); ``imdbops score --input FILE`` scores a CSV or Parquet file. Scores go into the
warehouse's ``predictions`` table and the lake; ``--output FILE`` writes them to a file too.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from imdbops.cli.common import UserError, get_config, user_errors
from imdbops.movies import MOVIE_FIELDS

app = typer.Typer(
    help="Batch-score movies with the champion (or --model-version N): `imdbops score "
    "--warehouse` (unrated movies in the raw tables) or `imdbops score --input movies.csv "
    "--output scored.parquet`. Scores go to the warehouse's predictions table and the lake; "
    "a re-run scores only new or changed titles. See docs/scoring.md.",
    invoke_without_command=True,
)


@app.callback()
def score(
    ctx: typer.Context,
    warehouse: bool = typer.Option(
        False, "--warehouse", help="Score the movies in the warehouse's raw tables."
    ),
    include_rated: bool = typer.Option(
        False, "--all", help="With --warehouse: every movie, not only those without a rating."
    ),
    input_path: Path | None = typer.Option(
        None,
        "--input",
        "-i",
        help="CSV or Parquet with the movie record's columns: "
        f"{', '.join(f.name for f in MOVIE_FIELDS if f.required)}"
        f"[, {', '.join(f.name for f in MOVIE_FIELDS if not f.required)}].",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write every score to this .csv or .parquet file."
    ),
    model_version: str | None = typer.Option(
        None, "--model-version", help="Score with this registered version (default: champion)."
    ),
    full: bool = typer.Option(
        False, "--full", help="Re-score rows this model version already scored."
    ),
    chunk_rows: int = typer.Option(
        100_000, "--chunk-rows", min=1000, max=5_000_000, help="Rows in memory at a time."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the result as one JSON line (the last line of stdout)."
    ),
) -> None:
    """Score movies in bulk; a second run with the same model scores only new or changed ones.

    Examples: ``imdbops score --warehouse``; ``imdbops score --input new.csv --output
    scored.parquet``. Subcommands ``dag`` and ``task`` run the imdb_scoring DAG.
    """
    if ctx.invoked_subcommand is not None:
        return
    from imdbops.scoring.batch import run_score

    cfg = get_config(ctx, "score")
    with user_errors():
        if warehouse == (input_path is not None):
            raise UserError("choose one source: --warehouse or --input FILE (see --help)")
        if include_rated and not warehouse:
            raise UserError("--all goes with --warehouse")
        cfg.ensure_dirs()
        with _RowProgress() as progress:
            result = run_score(
                cfg,
                warehouse=warehouse,
                include_rated=include_rated,
                input_path=input_path,
                output=output,
                model_version=model_version,
                incremental=not full,
                chunk_rows=chunk_rows,
                on_total=progress.set_total,
                on_progress=progress.advance,
            )
    if as_json:
        # One line, last on stdout: log lines may precede it (as for `pipeline task`).
        typer.echo(json.dumps(result.to_dict(), default=str))
        return
    typer.echo(
        f"scored {result.rows_scored:,} of {result.rows_read:,} movies from {result.source} "
        f"with model version {result.model_version} in {result.seconds:.1f}s "
        f"({result.rows_per_s:,.0f} rows/s; {result.rows_skipped:,} already scored)"
    )
    pub = result.published or {}
    if pub.get("rows"):
        typer.echo(
            f"predictions table: {pub['inserted']:,} new, {pub['replaced']:,} replaced, "
            f"{pub['table_rows']:,} rows in all; lake copy {pub.get('lake_url')}"
        )
    if result.output:
        typer.echo(f"wrote {result.output}")


@app.command("dag")
def run_dag(
    ctx: typer.Context,
    workers: int = typer.Option(1, "--workers", min=1, max=8, help="Parallel tasks."),
) -> None:
    """Run the imdb_scoring DAG (extract_unrated -> score -> publish) with caching."""
    with user_errors():
        cfg = get_config(ctx, "score-dag")
        cfg.ensure_dirs()
        dag, runner, progress = _runner(cfg, workers)
        with progress:
            result = runner.run(meta=_meta(cfg))
        if not result.ok:
            raise UserError(f"{result.error_summary()}\nmanifest: {result.manifest.path}")
    typer.echo(f"imdb_scoring run {result.run_id}: ok; manifest {result.manifest.path}")


@app.command("task")
def run_task(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="extract_unrated, score or publish."),
    run_id: str | None = typer.Option(None, "--run-id", help="Run id shared by the tasks."),
    upstream: list[str] = typer.Option(
        [], "--upstream", help="JSON printed by an upstream task (repeatable)."
    ),
) -> None:
    """Run one task of imdb_scoring (what Airflow calls); print its outputs as JSON last."""
    from imdbops.cli.pipeline import run_task_command

    run_task_command(ctx, "imdbops.pipelines.scoring", "score", name, run_id, upstream)


def _runner(cfg, workers: int, live: bool | None = None, lock_wait_s: float = 0.0):
    """The training DAG's runner set-up (cli/pipeline.py), over imdb_scoring."""
    from imdbops.cli.pipeline import _runner as pipeline_runner
    from imdbops.pipelines.scoring import build_dag

    return pipeline_runner(cfg, workers, live, lock_wait_s, dag=build_dag(cfg))


def _meta(cfg) -> dict:
    from imdbops.cli.pipeline import _meta as pipeline_meta

    return pipeline_meta(cfg)


class _RowProgress:
    """A rich progress bar counting rows, with the rate in rows/s (on stderr)."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.text import Text

        class _Rate(ProgressColumn):
            def render(self, task):
                return Text(f"{task.speed or 0:,.0f} rows/s")

        self._progress = Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.__enter__()
        self._task = self._progress.add_task("scoring", total=None)
        return self

    def set_total(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)

    def advance(self, rows: int) -> None:
        self._progress.advance(self._task, rows)

    def __exit__(self, *exc):
        self._progress.__exit__(*exc)
        return False
