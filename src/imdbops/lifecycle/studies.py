"""The Optuna studies in ``<state_dir>/optuna.db``: one per (model, split md5), resumable,
and the MLflow runs tuning leaves: one ``tune`` run per study and run (tagged ``study``)
with a nested run per trial.

A study stays when a kept model version was tuned on its split (``<model>-<split_md5>``),
or when a kept run or current cache record names it (the tune step records its study, and
a resumed run continues it); the others are deleted with their trials, and their tuning
runs in MLflow are deleted (MLflow's own delete: hidden from every listing, the store's
``mlflow gc`` purges them).
"""

from __future__ import annotations

from pathlib import Path

from imdbops.config import Config
from imdbops.lifecycle.items import Found, Item

NOT_NEEDED = "of a split no kept version or run was tuned on"
TUNE_STEP, TRIAL_STEP = "tune", "tune-trial"


def _db(cfg: Config) -> Path:
    return cfg.optuna_db


def _names(cfg: Config) -> list[str]:
    import sqlite3

    path = _db(cfg)
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return [r[0] for r in con.execute("select study_name from studies order by study_id")]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        con.close()


def kept_studies(versions: list[dict], referenced: set[str]) -> set[str]:
    from imdbops.mlops.tune import study_name

    keep = set(referenced)
    for row in versions:
        tags = row.get("tags") or {}
        if tags.get("split_md5") and tags.get("model_kind"):
            keep.add(study_name(tags["split_md5"], tags["model_kind"]))
    return keep


def collect(cfg: Config, keep: set[str]) -> Found:
    found = Found()
    for name in _names(cfg):
        found.sort(
            "study", name, name in keep, f"Optuna study {NOT_NEEDED}", str(_db(cfg))
        )  # fmt: skip
    return found


def collect_runs(cfg: Config, keep: set[str]) -> Found:
    """The MLflow ``tune`` runs (with their trial runs) of studies gc does not keep."""
    from imdbops.mlops.tracking import get_client

    found = Found()
    uri = cfg.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return found  # no tracking store yet, so no runs (and opening one would create it)
    client = get_client(cfg)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    if experiment is None:
        return found
    trials: dict[str, list[str]] = {}
    for run in _search(client, experiment.experiment_id, TRIAL_STEP):
        parent = run.data.tags.get("mlflow.parentRunId")
        if parent:
            trials.setdefault(parent, []).append(run.info.run_id)
    for run in _search(client, experiment.experiment_id, TUNE_STEP):
        study = run.data.tags.get("study", "")
        children = sorted(trials.get(run.info.run_id, []))
        found.sort(
            "tuning_run", run.info.run_id, study in keep,
            f"MLflow tune run and {len(children)} trial run(s) of Optuna study {study} "
            f"{NOT_NEEDED}", run.info.artifact_uri, detail={"trials": children},
        )  # fmt: skip
    return found


def _search(client, experiment_id: str, step: str) -> list:
    runs, token = [], None
    for _ in range(10_000):  # pages of 1,000: bounded
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`imdbops.step` = '{step}'",
            max_results=1000,
            page_token=token,
        )
        runs += list(page)
        token = page.token
        if not token:
            break
    return runs


def remove(cfg: Config, item: Item) -> None:
    import optuna

    from imdbops.mlops.tune import _storage

    try:
        optuna.delete_study(study_name=item.target, storage=_storage(cfg))
    except KeyError:
        pass  # already gone: a killed gc deleted it before its journal was cleared


def remove_run(cfg: Config, item: Item) -> None:
    """Delete the trial runs, then the tune run (a re-run skips those already deleted)."""
    from mlflow.exceptions import MlflowException

    from imdbops.mlops.tracking import get_client

    client = get_client(cfg)
    for run_id in [*item.detail.get("trials", []), item.target]:
        try:
            if client.get_run(run_id).info.lifecycle_stage != "deleted":
                client.delete_run(run_id)
        except MlflowException as exc:
            if "not found" not in str(exc).lower() and "RESOURCE_DOES_NOT_EXIST" not in str(exc):
                raise
