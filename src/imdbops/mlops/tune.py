"""Task ``tune``: Optuna search over a model's space, minimising validation log loss.

The study lives in SQLite (``<state_dir>/optuna.db``) under a name made from the split's
md5 and the model name, so an interrupted run resumes: ``n_trials`` is the study's total,
and a rerun only adds the trials still missing. The test split is never read here.
Each trial is a nested MLflow run under one ``tune`` parent run (logged through the client:
Optuna's MLflowCallback is deprecated).

With a ``training.timeout_s`` budget, trials fit a stratified subsample of the train split
sized to the budget (tune_budget.py), so the budget holds at any data size; the study
remembers that size, so a resumed study keeps comparing like with like.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from imdbops.atomic import atomic_write_json
from imdbops.config import Config
from imdbops.failpoints import failpoint
from imdbops.log import get_logger
from imdbops.mlops import tune_budget
from imdbops.mlops.split import load_split, read_split_meta
from imdbops.orchestrator.catalog import Location

log = get_logger("mlops.tune")


def resolve_spec(cfg: Config, params: dict[str, Any] | None = None):
    """The configured ModelSpec and its validated params; fails before any work is done."""
    from imdbops.mlops.models import get_spec

    spec = get_spec(cfg.training.model)
    merged = {**cfg.training.params, **(params or {})}
    try:
        validated = spec.validate(merged)
    except ValueError as exc:
        raise ValueError(f"training.params for model {spec.name!r}: {exc}") from None
    return spec, validated


def study_name(split_md5: str, model: str) -> str:
    return f"{model}-{split_md5[:16]}"


def _storage(cfg: Config):
    import optuna

    cfg.paths.state_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{cfg.optuna_db}"
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})


def tune(cfg: Config, splits_dir: Location, out_path: Path) -> dict[str, Any]:
    """Search, then write ``{"model", "params", "best_val_loss", ...}`` to ``out_path``."""
    result = search(cfg, splits_dir)
    atomic_write_json(out_path, result)
    return result


def search(cfg: Config, splits_dir: Location) -> dict[str, Any]:
    """Run (or resume) the study on ``splits_dir``'s train/val pair; the best params and the
    study's numbers. Writes no file: the study lives in its storage, the trials in MLflow."""
    import optuna

    from imdbops.mlops.tracking import check_tracking, ensure_experiment, get_client, tracked_run

    spec, fixed = resolve_spec(cfg)
    check_tracking(cfg)
    meta = read_split_meta(splits_dir)
    splits = {s: load_split(splits_dir, s)[1:] for s in ("train", "val")}
    name = study_name(meta["split_md5"], spec.name)
    result: dict[str, Any] = {"model": spec.name, "study": name, "split_md5": meta["split_md5"]}
    if not _searchable(spec):
        result.update(params=fixed, best_val_loss=None, n_trials=0, note="nothing to tune")
        return result

    study = _open_study(cfg, name)
    done = [t for t in study.trials if t.state.is_finished()]
    remaining = max(0, cfg.training.n_trials - len(done))

    started = time.perf_counter()
    data = _trial_data(cfg, spec, fixed, splits, study, remaining)
    client = get_client(cfg)
    experiment_id = ensure_experiment(cfg)
    tags = {"imdbops.step": "tune", "study": name, "split_md5": meta["split_md5"]}
    # Any error, Ctrl-C included, ends the parent run FAILED (tracked_run); trials likewise.
    with tracked_run(
        cfg, run_name=f"tune-{spec.name}", tags=tags, experiment_id=experiment_id, client=client
    ) as parent:
        objective = _objective(cfg, spec, fixed, data, parent, experiment_id)
        client.log_param(parent.run_id, "trial_rows", data.rows)
        if remaining:
            # BudgetStop, not Optuna's timeout (checked only between trials, and before the
            # first one too): the budget counts the pilot fit, and one trial always runs.
            budget = cfg.training.timeout_s
            stop = tune_budget.BudgetStop(started + budget) if budget is not None else None
            _optimize_with_progress(study, objective, remaining, stop)
        else:
            log.info("study %s already has %d trials; nothing to add", name, len(done))
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not complete:
            raise RuntimeError(
                f"no tuning trial completed in study {name}; raise training.timeout_s "
                f"(now {cfg.training.timeout_s}) or check the logs for the trial errors"
            )
        best = study.best_trial
        params = spec.validate({**fixed, **best.params})
        for key, value in params.items():
            client.log_param(parent.run_id, f"best_{key}", value)
        client.log_metric(parent.run_id, "best_val_loss", float(best.value))
    result.update(
        params=params,
        best_val_loss=float(best.value),
        best_trial=best.number,
        n_trials=len(study.trials),
        n_complete=len(complete),
        n_trials_done=len(study.trials) - len(done),
        trial_rows=data.rows,
        train_rows=data.train_rows,
        tune_seconds=round(time.perf_counter() - started, 2),
        mlflow_run_id=parent.run_id,
    )
    _log_summary(cfg, result)
    return result


def _open_study(cfg: Config, name: str):
    """The study ``name`` in the state folder's Optuna storage, created or resumed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=name,
        storage=_storage(cfg),
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=cfg.training.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
        load_if_exists=True,
    )


def _log_summary(cfg: Config, result: dict[str, Any]) -> None:
    log.info(
        "tuning %s: %d trials done in %.1fs (budget %s), each on %d of %d training rows",
        result["study"],
        result["n_trials_done"],
        result["tune_seconds"],
        "none" if cfg.training.timeout_s is None else f"{cfg.training.timeout_s:g}s",
        result["trial_rows"],
        result["train_rows"],
    )
    log.info(
        "best %s params %s (val log loss %.4f)",
        result["model"],
        result["params"],
        result["best_val_loss"],
    )


def _searchable(spec) -> bool:
    """False for a space that needs no suggestions: there is nothing to tune."""
    import optuna

    try:
        spec.search_space(optuna.trial.FixedTrial({}))
    except ValueError:
        return True
    return False


def _trial_data(cfg: Config, spec, fixed, splits: dict, study, remaining: int):
    """The rows every trial of ``study`` fits: sized to the budget once, then remembered."""
    rows = study.user_attrs.get("trial_rows")
    n_train = len(splits["train"][1])
    if rows is None:
        rows = n_train
        if remaining and cfg.training.timeout_s is not None and n_train > tune_budget.PILOT_ROWS:
            started = time.perf_counter()
            per_row = tune_budget.pilot_seconds_per_row(spec, fixed, cfg.training.seed, splits)
            left = cfg.training.timeout_s - (time.perf_counter() - started)
            rows = tune_budget.trial_rows(per_row, n_train, left, remaining)
        study.set_user_attr("trial_rows", int(rows))
    return tune_budget.subsample(splits, int(rows), cfg.training.seed)


def _objective(cfg: Config, spec, fixed: dict[str, Any], data, parent, experiment_id):
    """Optuna's objective: fit one trial's params, log it as a nested run, return val loss."""
    import optuna
    from sklearn.metrics import log_loss

    from imdbops.mlops.tracking import tracked_run

    X_train, y_train, X_val, y_val = data.X_train, data.y_train, data.X_val, data.y_val

    def objective(trial: optuna.Trial) -> float:
        params = spec.validate({**fixed, **spec.search_space(trial)})
        tags = {"mlflow.parentRunId": parent.run_id, "imdbops.step": "tune-trial"}
        with tracked_run(
            cfg,
            run_name=f"trial-{trial.number}",
            tags=tags,
            experiment_id=experiment_id,
            client=parent.client,
        ) as run:
            for key, value in params.items():
                run.client.log_param(run.run_id, key, value)
            try:
                pipeline = spec.build(params, cfg.training.seed)
                spec.fit(pipeline, X_train, y_train, X_val, y_val, trial=trial)
            except optuna.TrialPruned:
                run.client.set_tag(run.run_id, "pruned", "true")
                run.end_as("KILLED")
                raise
            loss = float(log_loss(y_val, pipeline.predict_proba(X_val)[:, 1], labels=[0, 1]))
            run.client.log_metric(run.run_id, "val_loss", loss)
        failpoint("tune.after_trial")  # the trial's run is complete, the study not yet told
        return loss

    return objective


def _optimize_with_progress(study, objective, n_trials: int, stop=None) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task(f"tuning {study.study_name}", total=n_trials)

        def advance(study, trial) -> None:
            best = study.best_value if any(t.value is not None for t in study.trials) else None
            desc = f"tuning {study.study_name} (best val loss {best:.4f})" if best else None
            progress.update(task, advance=1, description=desc or f"tuning {study.study_name}")

        study.optimize(
            objective,
            n_trials=n_trials,
            callbacks=[advance] + ([stop] if stop is not None else []),
            catch=(ValueError,),
            gc_after_trial=False,
        )
