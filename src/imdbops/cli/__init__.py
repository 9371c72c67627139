"""The ``imdbops`` command: every user action is a subcommand.

Sub-command groups live in their own modules; heavy libraries (mlflow, optuna, evidently,
dbt) are imported inside the command bodies so ``imdbops --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from imdbops.cli import (
    config_cmd,
    data,
    data_versioning,
    gc,
    model,
    monitor,
    pipeline,
    predict,
    replay,
    score,
    serve,
    warehouse,
)
from imdbops.cli.common import State

app = typer.Typer(
    name="imdbops",
    help="Will audiences like this movie? A local-first DataOps + MLOps pipeline.",
    epilog="Docs: docs/getting-started.md (start here); every command and setting: "
    "docs/configuration.md.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="YAML config file (default: $IMDBOPS_CONFIG or ./imdbops.yaml).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
) -> None:
    ctx.obj = State(config_path=config, verbose=verbose)


app.add_typer(config_cmd.app, name="config")
app.add_typer(data.app, name="data")  # data_versioning adds to it
assert data_versioning.app is data.app
app.add_typer(warehouse.app, name="warehouse")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(model.app, name="model")
app.add_typer(monitor.app, name="monitor")
app.add_typer(score.app, name="score")
app.command("serve", epilog="Docs: docs/serving.md.")(serve.serve)
app.command("gc", epilog="Docs: docs/gc.md.")(gc.gc)
app.command("predict", epilog="Docs: docs/explain-reproduce.md.")(predict.predict)
app.command("replay", epilog="Docs: docs/operating.md.")(replay.replay)
