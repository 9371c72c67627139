"""``imdbops serve``."""

from __future__ import annotations

import typer


def serve(ctx: typer.Context) -> None:
    """Serve the API and web page over the champion model."""
    raise typer.Exit(1)
