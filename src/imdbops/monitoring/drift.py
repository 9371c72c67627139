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
from imdbops.artifact_names import RUN_PROFILE
from imdbops.atomic import atomic_path, atomic_write_json, atomic_write_text
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.reference_profile import (
    ProfileError,
    derive_features,
    load_profile,
    profile_sample_frame,
)
from imdbops.mlops.vocabulary import from_profile
from imdbops.monitoring.drift_metrics import (
    RUN_REPORT,
    RUN_SUMMARY,
    latest_summary_path,
    render_textfile,
)
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
    """A written drift run: its summary (the ``summary.json`` document) and its folder."""

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
        with registry.artifact_file(cfg, version, RUN_PROFILE) as path:
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


@dataclass(frozen=True)
class DriftResult:
    """What one drift check found, before anything is written (:func:`check_drift`)."""

    created_at: datetime
    drift_share: float
    drift_threshold: float
    reasons: list[dict[str, str]]  # {"reason": "feature_drift"|"unknown_genres", "message"}
    unknown_genres: dict[str, Any]  # monitoring.unknown_genres.check_unknown_genres
    features: dict[str, Any]  # per feature: Evidently's drift score and verdict
    n_drifted: int
    model_version: str | None
    reference: dict[str, Any]  # where the profile came from and its headline figures
    window: dict[str, Any]  # what was read: bounds, counts, per-version stats
    report: Any  # the Evidently snapshot, saved as report.html by the writer
    duration_s: float

    @property
    def drift_detected(self) -> bool:
        return bool(self.reasons)

    def summary(self, run_id: str) -> dict[str, Any]:
        """``summary.json`` / ``latest.json`` of this result as run ``run_id``."""
        return {
            "run_id": run_id,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "status": "drift" if self.drift_detected else "ok",
            "drift_share": self.drift_share,
            "drift_threshold": self.drift_threshold,
            "drift_detected": self.drift_detected,
            "reasons": self.reasons,
            "unknown_genres": self.unknown_genres,
            "n_features": len(self.features),
            "n_drifted": self.n_drifted,
            "features": self.features,
            "model_version": self.model_version,
            "reference": self.reference,
            "window": self.window,
            "report_html": f"{run_id}/{RUN_REPORT}",
            "duration_s": self.duration_s,
        }


def check_drift(
    cfg: Config,
    *,
    reference_path: Path | None = None,
    model_version: str | None = None,
    hours: float | None = None,
    predictions: int | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    now: datetime | None = None,
) -> DriftResult:
    """Compare a window of logged traffic with the reference profile; writes nothing.
    Raises DriftInputError on bad input."""
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
    reasons = []
    if outcome.share >= mon.drift_threshold:
        reasons.append(
            {
                "reason": "feature_drift",
                "message": f"{outcome.n_drifted} of {len(outcome.features)} features drifted "
                f"(share {outcome.share:.2f} >= {mon.drift_threshold})",
            }
        )
    if unknown["exceeded"]:
        reasons.append({"reason": "unknown_genres", "message": unknown["message"]})
    return DriftResult(
        created_at=now or clock.now(),
        drift_share=outcome.share,
        drift_threshold=mon.drift_threshold,
        reasons=reasons,
        unknown_genres=unknown,
        features=outcome.features,
        n_drifted=outcome.n_drifted,
        model_version=version,
        reference={
            "source": reference_name,
            "n_rows": profile.get("n_rows"),
            "positive_rate": profile.get("positive_rate"),
            "mean_probability": profile.get("mean_probability"),
            "genre_frequencies": profile.get("genre_frequencies"),
        },
        window={
            "hours": hours,
            "predictions": predictions,
            "start": window.start.isoformat() if window.start else None,
            "end": window.end.isoformat() if window.end else None,
            "n_predictions": window.n_predictions,
            "n_files": len(window.files),
            "sample_rows": len(window.sample),
            **window.stats,
        },
        report=outcome.snapshot,
        duration_s=round(time.perf_counter() - started, 3),
    )


def write_drift_run(cfg: Config, result: DriftResult, textfile: Path | None = None) -> DriftRun:
    """Write a new run folder (``report.html``, ``summary.json``), then ``latest.json`` and
    the optional Prometheus textfile, each atomically and readable by other users."""
    run_id, run_dir = _new_run_dir(cfg, result.created_at)
    run_dir.mkdir(parents=True)
    with atomic_path(run_dir / RUN_REPORT) as tmp:
        result.report.save_html(str(tmp))
    summary = result.summary(run_id)
    atomic_write_json(run_dir / RUN_SUMMARY, summary)
    atomic_write_json(latest_summary_path(cfg), summary)
    written = [run_dir / RUN_REPORT, run_dir / RUN_SUMMARY, latest_summary_path(cfg)]
    if textfile is not None:
        written.append(atomic_write_text(textfile, render_textfile(summary)))
    for path in written:
        # Temp files are created 0600; node-exporter and web servers run as other users.
        os.chmod(path, 0o644)
    log.info(
        "drift share %.2f (%d of %d features), unknown-genre share %.2f over %d predictions "
        "-> %s %s",
        result.drift_share,
        result.n_drifted,
        len(result.features),
        result.unknown_genres["share_any"],
        result.window["n_predictions"],
        summary["status"],
        ",".join(r["reason"] for r in result.reasons),
    )
    return DriftRun(summary=summary, run_dir=run_dir)


def run_drift_job(cfg: Config, *, textfile: Path | None = None, **check: Any) -> DriftRun:
    """Run the drift check (``check``: :func:`check_drift`'s keyword arguments) and write
    its report; raises DriftInputError on bad input."""
    return write_drift_run(cfg, check_drift(cfg, **check), textfile)


def record_retrain(cfg: Config, run: DriftRun, retrain: dict[str, Any]) -> None:
    """Add the retrain outcome (the promotion gate's decision) to the run's summaries."""
    run.summary["retrain"] = retrain
    atomic_write_json(run.run_dir / RUN_SUMMARY, run.summary)
    latest = latest_summary_path(cfg)
    # Only overwrite latest.json if no newer drift run replaced it meanwhile.
    from imdbops.monitoring.drift_metrics import read_latest_summary

    current = read_latest_summary(cfg) or {}
    if current.get("run_id") in (None, run.summary["run_id"]):
        atomic_write_json(latest, run.summary)
