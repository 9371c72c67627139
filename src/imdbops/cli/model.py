"""``imdbops model``: inspect registered versions, promote (gated), roll back."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from imdbops.cli.common import UserError, get_config, user_errors

app = typer.Typer(
    help="Registered model versions: list, show, promote (gated), rollback.",
    epilog="Docs: docs/training.md (the promotion gate).",
    no_args_is_help=True,
)


def _registry_errors():
    from imdbops.dataops.versioning import VersioningError
    from imdbops.mlops.promote import PromotionError
    from imdbops.mlops.registry import ModelIntegrityError, TrackingUnavailableError
    from imdbops.mlops.registry_relocate import ArtifactsUnreachableError, RelocateError
    from imdbops.mlops.reproduce import ReproduceError

    return (
        ArtifactsUnreachableError,
        RelocateError,
        PromotionError,
        ModelIntegrityError,
        TrackingUnavailableError,
        ReproduceError,
        VersioningError,
    )


def _run(fn):
    """Run ``fn`` with registry errors turned into one clear line (no traceback)."""
    with user_errors():
        try:
            return fn()
        except _registry_errors() as exc:
            raise UserError(str(exc)) from None
        except Exception as exc:
            from mlflow.exceptions import MlflowException

            if isinstance(exc, MlflowException):
                raise UserError(f"registry: {exc.message}") from None
            raise


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(
        False, "--json", help="Print every version as JSON instead of a table."
    ),
    limit: int = typer.Option(
        20,
        "--limit",
        "-n",
        min=0,
        help="Table rows: the newest N versions and any version an alias points at "
        "(0: every version).",
    ),
) -> None:
    """List registered versions, newest first, with aliases and test ROC-AUC."""
    from rich.console import Console
    from rich.table import Table

    from imdbops.mlops.registry_read import list_versions

    cfg = get_config(ctx, "model-list")
    rows = _run(lambda: list_versions(cfg))
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo(f"no registered versions of {cfg.tracking.model_name} yet; run the pipeline")
        return
    from imdbops.mlops.tracking import public_uri

    # A long-lived registry holds hundreds of versions; a person wants the newest and the
    # ones that serve (the table's cost then stays flat as history grows).
    shown = [r for i, r in enumerate(rows) if not limit or i < limit or r["aliases"]]
    hidden = len(rows) - len(shown)
    table = Table(
        title=f"{cfg.tracking.model_name} ({public_uri(cfg.tracking_uri)})",
        caption=f"{hidden} older version(s) not shown: --limit 0 lists every version"
        if hidden
        else None,
    )
    for col in ("version", "aliases", "model", "test ROC-AUC", "trained at", "decision"):
        table.add_column(col)
    for r in shown:
        auc = r["metrics"].get("test_roc_auc")
        table.add_row(
            r["version"],
            ",".join(r["aliases"]),
            r["tags"].get("model_kind", "?"),
            f"{auc:.4f}" if auc is not None else "-",
            r["tags"].get("trained_at", "-"),
            r["tags"].get("promotion_decision", "-"),
        )
    Console().print(table)


@app.command("show")
def show(ctx: typer.Context, version: str = typer.Argument(..., help="Model version.")) -> None:
    """Show one version's tags, metrics, aliases and promotion decision as JSON."""
    from imdbops.mlops.registry_read import list_versions

    cfg = get_config(ctx, "model-show")
    rows = _run(lambda: list_versions(cfg))
    match = [r for r in rows if r["version"] == str(version)]
    if not match:
        known = ", ".join(r["version"] for r in rows) or "none"
        with user_errors():
            raise UserError(f"no version {version} of {cfg.tracking.model_name}; known: {known}")
    typer.echo(json.dumps(match[0], indent=2, default=str))


@app.command("promote")
def promote_cmd(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="Model version to promote."),
    force: bool = typer.Option(
        False, "--force", help="Promote even if the gate says HOLD or REJECT (recorded)."
    ),
    splits_dir: Path | None = typer.Option(
        None, help="Split folder with the frozen test set (default: <processed_dir>/splits)."
    ),
) -> None:
    """Gate VERSION against the baseline and the champion; move `champion` if it passes."""
    from imdbops.artifact_names import file_name
    from imdbops.mlops.promote import promote_version
    from imdbops.pipelines.contract import folder
    from imdbops.pipelines.training import catalog

    cfg = get_config(ctx, "model-promote")
    splits = folder("splits", splits_dir) if splits_dir else catalog(cfg)["splits"]
    out = cfg.paths.reports_dir / "promotion" / file_name("decision")
    decision = _run(lambda: promote_version(cfg, version, splits, force=force, out_path=out))
    colour = {"PROMOTE": "green", "HOLD": "yellow"}.get(decision["decision"], "red")
    typer.secho(f"{decision['decision']}: {decision['reason']}", fg=colour)
    typer.echo(f"decision written to {out}")
    if decision["decision"] == "REJECT":
        raise typer.Exit(1)


@app.command("rollback")
def rollback_cmd(ctx: typer.Context) -> None:
    """Move `champion` back to the previous champion in the promotion history."""
    from imdbops.mlops.promote import rollback

    cfg = get_config(ctx, "model-rollback")
    result = _run(lambda: rollback(cfg))
    typer.secho(f"champion: version {result['from_version']} -> {result['to_version']}", fg="green")


@app.command("champion")
def champion_cmd(ctx: typer.Context) -> None:
    """Print the version the `champion` alias points at (exit 1 when there is none)."""
    from imdbops.mlops.registry_read import alias_version

    cfg = get_config(ctx, "model-champion")
    version = _run(lambda: alias_version(cfg))
    if version is None:
        with user_errors():
            raise UserError(f"{cfg.tracking.model_name} has no champion yet; run the pipeline")
    typer.echo(version)


@app.command("relocate-artifacts")
def relocate_cmd(
    ctx: typer.Context,
    to: str = typer.Option(
        "mlflow-artifacts:/",
        "--to",
        help="mlflow-artifacts:/ (served by an MLflow server) or file:///<folder> (local again).",
    ),
) -> None:
    """Rewrite the local registry's artifact locations so an MLflow server can serve them.

    Run it on the machine that holds the SQLite registry, then start `mlflow server
    --backend-store-uri sqlite:///<mlflow.db> --serve-artifacts --artifacts-destination
    <the artifact folder>` and point every machine's tracking.uri at it.
    """
    from imdbops.mlops.registry_relocate import relocate_artifacts

    cfg = get_config(ctx, "model-relocate-artifacts")
    result = _run(lambda: relocate_artifacts(cfg, to))
    typer.echo(json.dumps(result, sort_keys=True))


@app.command("reproduce")
def reproduce_cmd(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="Model version to rebuild."),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="An empty folder to rebuild in (default: a new temp folder)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Rebuild VERSION from its lineage alone and compare it with the registered model.

    Fetches the training data by md5 from the DVC remote (verified), re-runs transform and
    split, refits with the logged parameters and seed, then compares test probabilities
    (max difference <= 1e-9) and metrics. Exit 0 reproduced, 1 not (with the diff).
    """
    import tempfile

    from imdbops.artifact_names import ARTIFACT_FILES
    from imdbops.dataops.versioning import fetch
    from imdbops.mlops.reproduce import read_lineage, rebuild

    cfg = get_config(ctx, "model-reproduce")
    lineage = _run(lambda: read_lineage(cfg, version))
    if workdir is None:
        cfg.paths.cache_dir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"reproduce-v{version}-", dir=cfg.paths.cache_dir))
    elif workdir.exists() and any(workdir.iterdir()):
        with user_errors():
            raise UserError(f"--workdir {workdir} is not empty; give an empty or new folder")
    typer.echo(f"rebuilding version {version} ({lineage.model_kind}) in {workdir}")
    raw_csv = workdir / "raw" / ARTIFACT_FILES["raw_csv"][1]
    raw = _run(lambda: fetch(cfg, lineage.data_md5, raw_csv, cache_dir=workdir / ".cache"))
    report = _run(lambda: rebuild(cfg, lineage, raw, workdir))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        rows = ", ".join(f"{k} {v}" for k, v in report.rows.items())
        typer.echo(f"data {lineage.data_md5} verified; split {rows}")
        if report.max_abs_diff is not None:
            typer.echo(f"max |p_registered - p_rebuilt| on test: {report.max_abs_diff:.3g}")
        for line in report.code_drift:
            typer.secho(f"code drift: {line}", fg="yellow")
        for line in report.diff:
            typer.secho(f"diff: {line}", fg="red")
        if report.reproduced:
            typer.secho(f"version {version} reproduced", fg="green")
        else:
            typer.secho(f"version {version} NOT reproduced", fg="red")
    if not report.reproduced:
        raise typer.Exit(1)
