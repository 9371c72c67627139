"""``imdbops config``: inspect the resolved configuration."""

from __future__ import annotations

import json

import typer

from imdbops.cli.common import get_config

app = typer.Typer(
    help="Inspect the resolved configuration.",
    epilog="Docs: docs/configuration.md.",
    no_args_is_help=True,
)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """Print the resolved config (file + IMDBOPS_* env + defaults) with secrets redacted."""
    cfg = get_config(ctx)
    data = cfg.redacted()
    data["derived"] = {
        "tracking_uri": cfg.tracking_uri if not cfg.tracking.uri else "(see tracking.uri)"
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False))
