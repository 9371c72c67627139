"""``imdbops warehouse``."""

from __future__ import annotations

import typer

app = typer.Typer(help="warehouse commands.", no_args_is_help=True)
