"""``imdbops warehouse build|status``: the dbt build over the warehouse (DuckDB or PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator

import typer

from imdbops.cli.common import UserError, get_config, user_errors

app = typer.Typer(
    help="The warehouse (a DuckDB file or a PostgreSQL server) and its dbt models.",
    epilog="Docs: docs/data.md; PostgreSQL: docs/warehouse.md.",
    no_args_is_help=True,
)


@contextlib.contextmanager
def step_progress(label: str) -> Iterator[Callable[[str], None]]:
    """A spinner with elapsed time whose text follows the current step."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)
        yield lambda msg: progress.update(task, description=f"{label}: {msg}")


@contextlib.contextmanager
def warehouse_errors() -> Iterator[None]:
    """user_errors(), plus the warehouse's own error classes (RuntimeErrors) as user errors."""
    from imdbops.dataops.bundled import BundledDataError
    from imdbops.dataops.warehouse_backends import WarehouseError

    with user_errors():
        try:
            yield
        except (WarehouseError, BundledDataError) as exc:
            raise UserError(str(exc)) from exc


@app.command("build")
def build(
    ctx: typer.Context,
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Rebuild the model from the raw tables instead of merging."
    ),
) -> None:
    """Run dbt: build filtered_movies_incremental from the raw tables, then its tests."""
    cfg = get_config(ctx, "warehouse-build")
    with warehouse_errors():
        from imdbops.dataops.warehouse_build import build_warehouse

        with step_progress("warehouse build") as step:
            result = build_warehouse(cfg, full_refresh=full_refresh, progress=step)
        passed = sum(t.status == "pass" for t in result.tests)
        typer.echo(
            f"built {result.target} in {result.seconds:.1f}s: "
            f"{result.model_rows} movies ({result.inserted} new, {result.updated} updated); "
            f"dbt tests {passed}/{len(result.tests)} passed"
        )


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Rows and freshness of the raw tables and the model, and the last loads."""
    cfg = get_config(ctx, "warehouse-status")
    with warehouse_errors():
        from imdbops.dataops.warehouse_build import warehouse_status

        info = warehouse_status(cfg)
        if as_json:
            typer.echo(json.dumps(info, indent=2))
            return
        if not info["exists"]:
            typer.echo(f"no warehouse at {info['warehouse']}; run `imdbops data ingest`")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"warehouse {info['warehouse']}")
        for col in ("table", "rows", "last_modified"):
            table.add_column(col)
        for name, t in info.get("tables", {}).items():
            table.add_row(name, f"{t['rows']:,}", str(t["last_modified"]))
        Console().print(table)
        for load in info.get("loads", []):
            typer.echo(f"loaded {load['loaded_at']} from {load['source']} in {load['seconds']}s")
