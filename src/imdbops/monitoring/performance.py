"""Delayed ground truth: how the stored predictions did once the real ratings arrived.

Every batch score (the warehouse's ``predictions`` table) and every API prediction whose
request carried a ``tconst`` (the prediction log) is joined with the ratings now in the
warehouse. Per model version and per scoring month: rows matched, ROC-AUC, accuracy, Brier
score and calibration (mean predicted P(like) vs observed like-rate per probability decile),
beside the version's test metrics at registration.

Each version's ``versus_holdout`` puts its realised ROC-AUC beside its own holdout ROC-AUC
(and out-of-time ROC-AUC, when its split had one), with the row count and the gap.

Verdicts: ``no_labels_yet`` (no prediction has a rating yet; exit 0), ``ok`` (exit 0),
``performance_drop`` (exit 3): a version with at least ``monitoring.performance_min_rows``
matched rows whose ROC-AUC fell more than ``monitoring.performance_drop`` below its test
ROC-AUC (accuracy when the matched rows hold one class only, where ROC-AUC is undefined).
Output: ``<reports_dir>/performance/<run_id>.json`` and ``.../latest.json`` (atomic).

``monitoring.performance_window_days`` bounds the judged predictions to those scored in the
last N days (``scored_since`` in the report): without it every run re-reads and re-scores all
history, and its cost grows with it (docs/operating.md).
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdbops import clock
from imdbops.atomic import atomic_write_json
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.monitoring.calibration import calibration

if TYPE_CHECKING:
    import pandas as pd

log = get_logger("monitoring.performance")

METRICS = ("roc_auc", "accuracy", "brier")
LATEST_FILENAME = "latest.json"
EXIT_CODES = {"no_labels_yet": 0, "ok": 0, "performance_drop": 3}


def reports_dir(cfg: Config) -> Path:
    return Path(cfg.monitoring.reports_dir) / "performance"


def latest_path(cfg: Config) -> Path:
    return reports_dir(cfg) / LATEST_FILENAME


def read_latest(cfg: Config) -> dict[str, Any] | None:
    """The newest performance report, or None (never raises: a metrics scrape reads it)."""
    try:
        data = json.loads(latest_path(cfg).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def api_predictions(cfg: Config) -> pd.DataFrame:
    """API predictions that carried a tconst: ``tconst, probability, model_version, scored_at``
    (naive UTC). Log files written before the column existed are read as having none."""
    import duckdb
    import pandas as pd

    from imdbops.monitoring.window import checked_file, connect, list_log_files, log_relation_sql

    files = [checked_file(f) for f in list_log_files(cfg)]
    empty = pd.DataFrame(columns=["tconst", "probability", "model_version", "scored_at"])
    if not files:
        return empty
    con = connect()
    try:
        frame = con.execute(
            "select tconst, probability, model_version, "
            "cast(ts at time zone 'UTC' as timestamp) as scored_at "
            f"from {log_relation_sql(files)} where tconst is not null and tconst <> ''"
        ).df()
    except duckdb.BinderException:  # no log file has a tconst column yet
        return empty
    finally:
        con.close()
    return frame


def reference_metrics(cfg: Config) -> dict[str, dict[str, float]]:
    """Each registered version's test metrics at registration (``{version: {metric: v}}``)."""
    from imdbops.mlops.registry_read import list_versions  # no MLflow start on SQLite

    try:
        versions = list_versions(cfg)
    except Exception as exc:  # noqa: BLE001 - the report still stands without the comparison
        log.warning("cannot read test metrics from the registry: %s", exc)
        return {}
    out: dict[str, dict[str, float]] = {}
    for v in versions:
        metrics = v.get("metrics") or {}
        ref = {m: float(metrics[f"test_{m}"]) for m in METRICS if f"test_{m}" in metrics}
        if "oot_roc_auc" in metrics:  # the out-of-time holdout, when the split had one
            ref["oot_roc_auc"] = float(metrics["oot_roc_auc"])
        out[str(v["version"])] = ref
    return out


def versus_holdout(
    observed: dict[str, Any], reference: dict[str, float], rows: int
) -> dict[str, Any]:
    """One version's realised ROC-AUC against its own holdout ROC-AUC, with the count: a
    gap that grows release after release is the model ageing."""
    realised, holdout = observed.get("roc_auc"), reference.get("roc_auc")
    gap = None if realised is None or holdout is None else round(holdout - realised, 6)
    return {
        "metric": "roc_auc",
        "rows": rows,
        "realised": realised,
        "holdout": holdout,
        "out_of_time_holdout": reference.get("oot_roc_auc"),
        "gap": gap,
    }


def _scores(y: Any, proba: Any) -> dict[str, float | None]:
    from imdbops.mlops.metrics import binary_metrics

    values = binary_metrics(y, proba, only=METRICS)
    return {k: (None if math.isnan(v) else round(v, 6)) for k, v in values.items()}


def _drop(observed: dict[str, Any], reference: dict[str, float]) -> tuple[str | None, float | None]:
    """(metric, how far it fell below the test value); ROC-AUC first, else accuracy."""
    for metric in ("roc_auc", "accuracy"):
        if observed.get(metric) is not None and metric in reference:
            return metric, round(reference[metric] - observed[metric], 6)
    return None, None


def evaluate(frame: pd.DataFrame, cfg: Config, references: dict[str, dict[str, float]]) -> dict:
    """The report body for matched rows (``probability, model_version, scored_at,
    averageRating, source``)."""
    from imdbops.mlops.transform import label_from_rating

    threshold = float(cfg.monitoring.performance_drop)
    min_rows = int(cfg.monitoring.performance_min_rows)
    frame = frame.assign(
        y=[label_from_rating(r) for r in frame["averageRating"]],
        month=frame["scored_at"].dt.strftime("%Y-%m"),
    )
    versions = []
    for version, rows in frame.groupby("model_version", sort=True):
        version = str(version)
        reference = references.get(version, {})
        observed = _scores(rows["y"], rows["probability"])
        metric, drop = _drop(observed, reference)
        enough = len(rows) >= min_rows
        versions.append(
            {
                "model_version": version,
                "rows": int(len(rows)),
                "sources": {str(k): int(v) for k, v in rows["source"].value_counts().items()},
                "observed_like_rate": round(float(rows["y"].mean()), 6),
                "metrics": observed,
                "test_metrics": reference,
                "versus_holdout": versus_holdout(observed, reference, int(len(rows))),
                "drop_metric": metric,
                "drop": drop,
                "enough_rows": enough,
                "dropped": bool(enough and drop is not None and drop > threshold),
                "calibration": calibration(rows["y"], rows["probability"]),
                "months": [
                    {
                        "month": str(m),
                        "rows": int(len(g)),
                        "metrics": _scores(g["y"], g["probability"]),
                    }
                    for m, g in rows.groupby("month", sort=True)
                ],
            }
        )
    dropped = [v["model_version"] for v in versions if v["dropped"]]
    return {
        "verdict": "performance_drop" if dropped else "ok",
        "rows_matched": int(len(frame)),
        "versions": versions,
        "dropped_versions": dropped,
    }


def run_performance(cfg: Config, include_api: bool = True) -> dict[str, Any]:
    """Build, save and return the performance report (see the module docstring)."""
    from imdbops.dataops.predictions_store import read_predictions_with_ratings

    now = clock.now()
    run_id = now.strftime("%Y%m%dT%H%M%SZ")
    days = cfg.monitoring.performance_window_days
    since = None if days is None else (now - timedelta(days=days)).replace(tzinfo=None)
    api = api_predictions(cfg) if include_api else None
    matched = read_predictions_with_ratings(cfg, api, since=since)
    base = {
        "run_id": run_id,
        "created_at": now.isoformat(),
        "scored_since": None if since is None else since.isoformat(),
        "performance_drop": float(cfg.monitoring.performance_drop),
        "min_rows": int(cfg.monitoring.performance_min_rows),
        "api_predictions_with_tconst": 0 if api is None else int(len(api)),
    }
    if matched.empty:
        report = {**base, "verdict": "no_labels_yet", "rows_matched": 0, "versions": [],
                  "dropped_versions": []}  # fmt: skip
    else:
        report = {**base, **evaluate(matched, cfg, reference_metrics(cfg))}
    if include_api:  # champion vs each shadow version on the same titles (docs/shadow.md)
        from imdbops.monitoring.shadow_verdict import shadow_verdict

        report["shadow"] = shadow_verdict(cfg, run_id, base["created_at"])
    save(cfg, report)
    log.info(
        "performance: %s over %d matched predictions", report["verdict"], report["rows_matched"]
    )
    return report


def save(cfg: Config, report: dict[str, Any]) -> Path:
    folder = reports_dir(cfg)
    path = atomic_write_json(folder / f"{report['run_id']}.json", report)
    atomic_write_json(folder / LATEST_FILENAME, report)
    return path


def exit_code(report: dict[str, Any]) -> int:
    return EXIT_CODES.get(str(report.get("verdict")), 1)
