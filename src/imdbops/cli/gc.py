"""``imdbops gc``: remove what the retention settings let go (docs/gc.md)."""

from __future__ import annotations

import json

import typer

from imdbops.cli.common import get_config, user_errors


def _mib(size: int | None) -> str:
    return "-" if size is None else f"{size / 2**20:.1f}"


def gc(
    ctx: typer.Context,
    dry_run: bool = typer.Option(
        False, "--dry-run", "-n", help="List what would go and why; remove nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    wait: float = typer.Option(
        0.0,
        "--wait",
        min=0,
        help="Seconds to wait for a running pipeline to release its lock (default: fail at once).",
    ),
) -> None:
    """Remove old runs, reports, model files, data and studies per the `retention` settings.

    Never removes what the champion, the newest versions, a resumable run or `model
    reproduce` of a kept version needs; takes the locks a run takes; a killed gc is
    finished by the next one.
    """
    with user_errors():
        from rich.console import Console
        from rich.progress import Progress
        from rich.table import Table

        from imdbops.lifecycle import gc as lifecycle_gc

        cfg = get_config(ctx, "gc")
        if dry_run:
            result = lifecycle_gc.run(cfg, dry_run=True)
        else:
            with Progress(transient=True, disable=as_json) as bar:
                task = bar.add_task("gc: removing", total=None)
                result = lifecycle_gc.run(
                    cfg, lock_wait_s=wait, on_item=lambda _: bar.advance(task)
                )
        items = [*result.resumed, *result.remove]
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "dry_run": dry_run,
                        "resumed": [i.to_dict() for i in result.resumed],
                        "remove": [i.to_dict() for i in result.remove],
                        "kept": len(result.keep),
                    },
                    indent=2,
                )
            )
            return
        verb = "would remove" if dry_run else "removed"
        if items:
            table = Table(title=f"gc {verb}" + (" (dry run: nothing removed)" if dry_run else ""))
            for col in ("kind", "what", "MiB", "why"):
                table.add_column(col, overflow="fold")
            for item in items:
                why = item.reason + (" (interrupted gc)" if item in result.resumed else "")
                table.add_row(item.kind, item.where or item.target, _mib(item.size), why)
            Console().print(table)
        total = sum(i.size or 0 for i in items)
        typer.echo(
            f"{verb} {len(items)} item(s), {total / 2**20:.1f} MiB known; kept "
            f"{len(result.keep)} (retention settings: docs/gc.md)"
        )
        if dry_run and result.resumed:
            typer.echo(
                f"an interrupted gc left {len(result.resumed)} item(s) in its journal; "
                "the next `imdbops gc` finishes them first"
            )
