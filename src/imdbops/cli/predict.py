"""``imdbops predict``: one movie through the champion (or any version), optionally explained."""

from __future__ import annotations

import inspect
import json
from typing import Any

import typer

from imdbops.cli.common import UserError, get_config, user_errors
from imdbops.movies import MODEL_FIELDS, is_liked


def _movie_options() -> list[inspect.Parameter]:
    """One option per optional model-input field of the movie record (``--year``, ...);
    the title is the argument and the genres ``--genres/-g``."""
    params = []
    for field in MODEL_FIELDS:
        optional = field.description.rstrip(".") + " (optional)."
        if field.kind == "text" and field.required:
            default: Any = typer.Argument(..., help=field.description)
            kind: Any = str
        elif field.kind == "genres":
            default = typer.Option("", field.flag, "-g", help="IMDb genres, comma-separated.")
            kind = str
        elif field.numeric:
            default = typer.Option(None, field.flag, help=optional)
            kind = (int if field.kind == "integer" else float) | None
        else:
            default = typer.Option(None, field.flag, help=optional)
            kind = str | None
        params.append(
            inspect.Parameter(
                field.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind
            )
        )
    return params


def _with_movie_options(func):
    """``func(ctx, *, <movie fields>, <its own options>)``: typer reads the signature."""
    own = [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD  # **movie receives the fields
    ]
    params = [own[0], *_movie_options(), *own[1:]]
    func.__signature__ = inspect.Signature(params)
    func.__annotations__ = {p.name: p.annotation for p in params}
    return func


@_with_movie_options
def predict(
    ctx: typer.Context,
    *,
    explain: bool = typer.Option(
        False, "--explain", help="Show what pushed the score up or down (see docs/serving.md)."
    ),
    model_version: str | None = typer.Option(
        None, "--model-version", help="A registered version instead of the champion."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    **movie: Any,
) -> None:
    """Predict whether audiences will like TITLE, with the reasons when --explain is given."""
    from imdbops.mlops.registry import load_version
    from imdbops.mlops.registry_read import load_champion  # no MLflow start on SQLite
    from imdbops.mlops.transform import to_model_frame

    cfg = get_config(ctx, "predict")
    with user_errors():
        # Input first: a misspelt genre is reported before any model is downloaded.
        frame = to_model_frame([movie])
        loaded = load_version(cfg, model_version) if model_version else load_champion(cfg)
        if loaded is None:
            raise UserError(
                f"{cfg.tracking.model_name} has no champion yet; run `imdbops pipeline run` first"
            )
        probability = float(loaded.model.predict_proba(frame)[0, 1])
        result = {
            "title": movie["title"],
            "label": "like" if is_liked(probability) else "dislike",
            "probability": probability,
            "model_version": loaded.version,
        }
        if explain:
            from imdbops.mlops.explain import explain as explain_rows

            result["explanation"] = explain_rows(loaded.model, frame)[0].to_dict()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(
        f"{result['label']} ({probability:.1%} like) — {cfg.tracking.model_name} "
        f"version {loaded.version}"
    )
    if explain:
        exp = result["explanation"]
        typer.echo(f"because: {', '.join(exp['reasons'])}")
        typer.echo(f"  raw score {exp['raw_score']:+.3f} = base {exp['base_value']:+.3f}")
        for c in exp["contributions"][:10]:
            typer.echo(f"  {c['contribution']:+.3f}  {c['feature']}")
