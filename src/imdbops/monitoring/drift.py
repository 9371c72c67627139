"""The drift job: a window of logged traffic against the serving model's reference profile.

Outputs (all atomic): ``<reports_dir>/<run_id>/report.html`` (Evidently), ``summary.json``,
then ``<reports_dir>/latest.json`` (what the dashboard and ``DriftCollector`` read), and
optionally a Prometheus textfile. The verdict is drift when either reason holds:
``feature_drift`` (``drift_share >= drift_threshold``, Evidently's own dataset-drift rule) or
``unknown_genres`` (more than ``unknown_genre_threshold`` of the predictions carry genres the
model never saw in training; see ``monitoring/unknown_genres.py``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.atomic import atomic_path, atomic_write_json, atomic_write_text
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.reference_profile import (
    PROFILE_FILENAME,
    ProfileError,
    derive_features,
    load_profile,
    profile_sample_frame,
)
from imdbops.mlops.vocabulary import from_profile
from imdbops.monitoring.drift_metrics import latest_summary_path, render_textfile
from imdbops.monitoring.unknown_genres import check_unknown_genres
from imdbops.monitoring.window import DEFAULT_SAMPLE_ROWS, Window, WindowError, read_window

log = get_logger("monitoring.drift")

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_DRIFT = 3


class DriftInputError(ValueError):
    """Bad input for the drift job (empty window, no reference, corrupted log): exit code 2."""


@dataclass
class DriftRun:
    summary: dict[str, Any]
    run_dir: Path

    @property
    def exit_code(self) -> int:
        return EXIT_DRIFT if self.summary["drift_detected"] else EXIT_OK


def _new_run_dir(cfg: Config, now: datetime) -> tuple[str, Path]:
    base = now.strftime("%Y%m%dT%H%M%SZ")
    run_id, n = base, 1
    while (cfg.monitoring.reports_dir / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id, cfg.monitoring.reports_dir / run_id


def resolve_reference(
    cfg: Config, window: Window, model_version: str | None, reference_path: Path | None
) -> tuple[dict[str, Any], str, str | None]:
    """The reference profile: a given file, else the registry artifact of the model version
    that served most of the window (its probabilities are what we compare), else the champion.
    """
    versions = [v for v in window.stats.get("model_versions", {}) if v and v != "None"]
    version = model_version or (versions[0] if versions else None)
    if reference_path is not None:
        try:
            return load_profile(reference_path), str(reference_path), version
        except ProfileError as exc:
            raise DriftInputError(str(exc)) from None
    from imdbops.mlops import registry

    if version is None:
        version = registry.alias_version(cfg, "champion")
    if version is None:
        raise DriftInputError(
            "no model version to compare with: the log names none and there is no champion; "
            "pass --reference PATH or --model-version N"
        )
    try:
        with registry.artifact_file(cfg, version, PROFILE_FILENAME) as path:
            return load_profile(path), f"{cfg.tracking.model_name} v{version}", version
    except (FileNotFoundError, ProfileError) as exc:
        raise DriftInputError(
            f"model version {version} has no usable reference profile ({exc}); retrain it "
            "with the current pipeline (which saves reference_profile.json) or pass "
            "--reference PATH"
        ) from None
    except Exception as exc:  # the registry raises MlflowException for unknown versions
        raise DriftInputError(
            f"cannot fetch the reference profile of model version {version}: {exc}"
        ) from None


def run_drift_job(
    cfg: Config,
    *,
    reference_path: Path | None = None,
    model_version: str | None = None,
    hours: float | None = None,
    predictions: int | None = None,
    textfile: Path | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    now: datetime | None = None,
) -> DriftRun:
    """Run the drift check and write its report; raises DriftInputError on bad input."""
    started = time.perf_counter()
    mon = cfg.monitoring
    if hours is None and predictions is None:
        hours, predictions = mon.window_hours, mon.window_predictions
    try:
        window = read_window(
            cfg, hours=hours, predictions=predictions, sample_rows=sample_rows, now=now
        )
    except WindowError as exc:
        raise DriftInputError(str(exc)) from None
    profile, reference_name, version = resolve_reference(cfg, window, model_version, reference_path)
    reference = profile_sample_frame(profile)
    current = derive_features(window.sample, window.sample["probability"].to_numpy())
    current = current[[c for c in reference.columns if c in current.columns]].astype("float64")

    from imdbops.monitoring.evidently_drift import run_drift_preset

    outcome = run_drift_preset(reference, current, mon.drift_threshold)
    unknown = check_unknown_genres(
        window.genre_combinations,
        window.n_predictions,
        from_profile(profile).known,
        mon.unknown_genre_threshold,
    )
    feature_drift = outcome.share >= mon.drift_threshold
    reasons = []
    if feature_drift:
        reasons.append(
            {
                "reason": "feature_drift",
                "message": f"{outcome.n_drifted} of {len(outcome.features)} features drifted "
                f"(share {outcome.share:.2f} >= {mon.drift_threshold})",
            }
        )
    if unknown["exceeded"]:
        reasons.append({"reason": "unknown_genres", "message": unknown["message"]})
    detected = bool(reasons)
    now = now or clock.now()
    run_id, run_dir = _new_run_dir(cfg, now)
    run_dir.mkdir(parents=True)
    with atomic_path(run_dir / "report.html") as tmp:
        outcome.snapshot.save_html(str(tmp))
    summary = {
        "run_id": run_id,
        "created_at": now.isoformat(timespec="seconds"),
        "status": "drift" if detected else "ok",
        "drift_share": outcome.share,
        "drift_threshold": mon.drift_threshold,
        "drift_detected": detected,
        "reasons": reasons,
        "unknown_genres": unknown,
        "n_features": len(outcome.features),
        "n_drifted": outcome.n_drifted,
        "features": outcome.features,
        "model_version": version,
        "reference": {
            "source": reference_name,
            "n_rows": profile.get("n_rows"),
            "positive_rate": profile.get("positive_rate"),
            "mean_probability": profile.get("mean_probability"),
            "genre_frequencies": profile.get("genre_frequencies"),
        },
        "window": {
            "hours": hours,
            "predictions": predictions,
            "start": window.start.isoformat() if window.start else None,
            "end": window.end.isoformat() if window.end else None,
            "n_predictions": window.n_predictions,
            "n_files": len(window.files),
            "sample_rows": len(window.sample),
            **window.stats,
        },
        "report_html": f"{run_id}/report.html",
        "duration_s": round(time.perf_counter() - started, 3),
    }
    atomic_write_json(run_dir / "summary.json", summary)
    atomic_write_json(latest_summary_path(cfg), summary)
    written = [run_dir / "report.html", run_dir / "summary.json", latest_summary_path(cfg)]
    if textfile is not None:
        written.append(atomic_write_text(textfile, render_textfile(summary)))
    for path in written:
        # Temp files are created 0600; node-exporter and web servers run as other users.
        os.chmod(path, 0o644)
    log.info(
        "drift share %.2f (%d of %d features), unknown-genre share %.2f over %d predictions "
        "-> %s %s",
        outcome.share,
        outcome.n_drifted,
        len(outcome.features),
        unknown["share_any"],
        window.n_predictions,
        summary["status"],
        ",".join(r["reason"] for r in reasons),
    )
    return DriftRun(summary=summary, run_dir=run_dir)


def record_retrain(cfg: Config, run: DriftRun, retrain: dict[str, Any]) -> None:
    """Add the retrain outcome (the promotion gate's decision) to the run's summaries."""
    run.summary["retrain"] = retrain
    atomic_write_json(run.run_dir / "summary.json", run.summary)
    latest = latest_summary_path(cfg)
    # Only overwrite latest.json if no newer drift run replaced it meanwhile.
    from imdbops.monitoring.drift_metrics import read_latest_summary

    current = read_latest_summary(cfg) or {}
    if current.get("run_id") in (None, run.summary["run_id"]):
        atomic_write_json(latest, run.summary)
