"""The whole loop on real parts: registry -> served traffic -> prediction log -> drift verdict.

The champion is registered in a real MLflow (SQLite) store with its reference profile
artifact; a real uvicorn server serves it; `imdbops monitor simulate` replays drifted
movies; `imdbops monitor run` finds the profile through the logged model version.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from support.prediction_log import write_prediction_log
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.monitoring.drift_metrics import read_latest_summary

runner = CliRunner()


def _register(cfg, model, profile_path=None) -> str:
    from imdbops.mlops.registry import log_model_version, set_alias

    info = log_model_version(
        cfg,
        model,
        metrics={"roc_auc": 0.7},
        params={"model": "logreg"},
        tags={"data_md5": "0" * 32, "git_commit": "test", "trained_at": "2026-01-01T00:00:00Z"},
        artifacts={"reference_profile.json": profile_path} if profile_path else None,
    )
    set_alias(cfg, info.version, "champion")
    return info.version


@pytest.mark.slow
def test_served_traffic_is_checked_against_the_registered_profile(cfg, streams):
    from support.serving import ServerThread

    from imdbops.serving.app import create_app

    version = _register(cfg, streams.model, streams.profile_path)
    server = ServerThread(create_app(cfg)).start()
    try:
        result = runner.invoke(
            app,
            ["monitor", "simulate", "--url", server.url, "--drifted", "--n", "400"]
            + ["--rate", "200", "--batch", "20"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert "400 ok" in result.output
    finally:
        server.stop()  # flushes the prediction log

    result = runner.invoke(app, ["monitor", "run"], catch_exceptions=False)
    assert result.exit_code == 3, result.output
    summary = read_latest_summary(cfg)
    assert summary["model_version"] == version
    assert summary["reference"]["source"].endswith(f"v{version}")
    assert summary["window"]["n_predictions"] == 400
    assert summary["window"]["genre_frequencies"]["Drama"] < 0.2

    # A newer version registered without a profile (one registry: the MLflow store set-up
    # is the expensive part): its logged traffic cannot be checked -> exit 2, no report.
    shutil.rmtree(cfg.monitoring.prediction_log_dir)
    shutil.rmtree(cfg.monitoring.reports_dir)
    version = _register(cfg, streams.model, profile_path=None)
    write_prediction_log(
        cfg.monitoring.prediction_log_dir,
        streams.heldout.iloc[:300],
        np.asarray(streams.heldout_proba[:300]),
        model_version=version,
    )
    result = runner.invoke(app, ["monitor", "run"], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"model version {version} has no usable reference profile" in message
    assert read_latest_summary(cfg) is None
