"""``imdbops predict``: one movie through the champion (or any version), optionally explained."""

from __future__ import annotations

import json

import typer

from imdbops.cli.common import UserError, get_config, user_errors
from imdbops.movies import is_liked


def predict(
    ctx: typer.Context,
    title: str = typer.Argument(..., help="The movie's title."),
    genres: str = typer.Option("", "--genres", "-g", help="IMDb genres, comma-separated."),
    year: int | None = typer.Option(None, help="Release year (optional)."),
    runtime: float | None = typer.Option(None, "--runtime", help="Runtime in minutes."),
    explain: bool = typer.Option(
        False, "--explain", help="Show what pushed the score up or down (see docs/serving.md)."
    ),
    model_version: str | None = typer.Option(
        None, "--model-version", help="A registered version instead of the champion."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Predict whether audiences will like TITLE, with the reasons when --explain is given."""
    from imdbops.mlops.registry import load_champion, load_version
    from imdbops.mlops.transform import to_model_frame

    cfg = get_config(ctx, "predict")
    with user_errors():
        # Input first: a misspelt genre is reported before any model is downloaded.
        frame = to_model_frame(
            [{"title": title, "genres": genres, "year": year, "runtime_minutes": runtime}]
        )
        loaded = load_version(cfg, model_version) if model_version else load_champion(cfg)
        if loaded is None:
            raise UserError(
                f"{cfg.tracking.model_name} has no champion yet; run `imdbops pipeline run` first"
            )
        probability = float(loaded.model.predict_proba(frame)[0, 1])
        result = {
            "title": title,
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
