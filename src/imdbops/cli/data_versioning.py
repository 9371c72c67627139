"""``imdbops data add|push|pull|checkout|status|log``: DVC-compatible data versioning.

Registers its commands on the ``data`` group defined in ``cli/data.py``. The versioning
package is imported inside each command so ``imdbops --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from imdbops.cli.common import get_config, user_errors
from imdbops.cli.data import app

_REMOTE_HELP = "Remote URL (default: <lake.url>/dvc), e.g. s3://bucket/dvc or /mnt/share/dvc."
Targets = Annotated[
    list[Path] | None,
    typer.Argument(help=".dvc files or data paths (default: every .dvc file in the project)."),
]
Remote = Annotated[str | None, typer.Option("--remote", "-r", help=_REMOTE_HELP)]


@contextlib.contextmanager
def _bytes_progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _tree_size(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return None


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Files or folders to version."),
    link: str = typer.Option(
        "copy",
        "--link",
        help="How the cache holds the bytes: 'copy' (safe default) or 'hardlink' (no second "
        "copy; the file becomes read-only, replace it rather than edit it in place).",
    ),
) -> None:
    """Version PATHS: cache their content, write PATH.dvc (DVC 3 format), git-ignore them."""
    from imdbops.dataops.versioning import add

    with user_errors():
        cfg = get_config(ctx, "data-add")
        for path in paths:
            with _bytes_progress(f"add {path.name}", _tree_size(path)) as advance:
                out = add(cfg, path, progress=advance, link=link)
            typer.echo(f"{path}: {out.md5} ({out.size} bytes) -> {path}.dvc")


@app.command("push")
def push_cmd(
    ctx: typer.Context,
    targets: Targets = None,
    remote: Remote = None,
) -> None:
    """Upload the versions behind TARGETS to the remote; objects already there are skipped."""
    from imdbops.dataops.versioning import push

    with user_errors():
        cfg = get_config(ctx, "data-push")
        with _bytes_progress("push", None) as advance:
            result = push(cfg, targets or None, remote=remote, progress=advance)
        typer.echo(
            f"pushed {len(result.pushed)} object(s), {len(result.skipped)} already on "
            f"{result.remote}"
        )


@app.command("pull")
def pull_cmd(
    ctx: typer.Context,
    targets: Targets = None,
    remote: Remote = None,
) -> None:
    """Download (hash-verified) and restore the versions TARGETS' .dvc files record."""
    from imdbops.dataops.versioning import pull

    with user_errors():
        cfg = get_config(ctx, "data-pull")
        restored = []
        with _bytes_progress("pull", None) as advance:
            for target in targets or [None]:
                restored += pull(cfg, target, remote=remote, progress=advance)
        for path in restored:
            typer.echo(f"restored {path}")


@app.command("checkout")
def checkout_cmd(
    ctx: typer.Context,
    targets: Targets = None,
) -> None:
    """Restore TARGETS from the local cache to the version their .dvc files record."""
    from imdbops.dataops.versioning import checkout

    with user_errors():
        cfg = get_config(ctx, "data-checkout")
        for target in targets or [None]:
            for path in checkout(cfg, target):
                typer.echo(f"checked out {path}")


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    targets: Targets = None,
    remote: Remote = None,
    cloud: bool = typer.Option(False, "--cloud", "-c", help="Also check the remote."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show what changed: workspace vs .dvc file, and whether cache and remote hold it.

    Exits 1 when anything is not clean, so scripts can gate on it.
    """
    from imdbops.dataops.versioning import status

    with user_errors():
        cfg = get_config(ctx, "data-status")
        entries = status(cfg, targets or None, remote=remote, check_remote=cloud)
        if as_json:
            typer.echo(json.dumps([e.__dict__ for e in entries], indent=2))
        elif not entries:
            typer.echo("no .dvc files found")
        for e in entries if not as_json else []:
            remote_state = (
                "" if e.on_remote is None else (", on remote" if e.on_remote else ", NOT on remote")
            )
            cache_state = "in cache" if e.in_cache else "NOT in cache"
            typer.echo(f"{e.path}: {e.workspace} ({cache_state}{remote_state})")
        if any(not e.clean for e in entries):
            raise typer.Exit(1)


@app.command("log")
def log_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A versioned path (or its .dvc file)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the versions of PATH, newest first (git history of PATH.dvc, else a local index)."""
    from imdbops.dataops.versioning import log

    with user_errors():
        cfg = get_config(ctx, "data-log")
        versions = log(cfg, path)
        if as_json:
            typer.echo(json.dumps([v.to_dict() for v in versions], indent=2))
            return
        if not versions:
            typer.echo(f"no versions recorded for {path}; run `imdbops data add {path}`")
        for v in versions:
            where = f"{v.commit[:10]} {v.message}" if v.commit else "(local index)"
            typer.echo(f"{v.when}  {v.md5}  {v.size:>12} bytes  {where}")
