"""`imdbops monitor run` end to end on real log files, real Evidently, real DuckDB."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from prometheus_client import CollectorRegistry
from support.prediction_log import write_prediction_log
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.monitoring.drift_metrics import DriftCollector, read_latest_summary

runner = CliRunner()


def _monitor(*args: str):
    return runner.invoke(app, ["monitor", *args], catch_exceptions=False)


def test_undrifted_replay_is_not_flagged(cfg, streams):
    write_prediction_log(cfg.monitoring.prediction_log_dir, streams.heldout, streams.heldout_proba)
    prom = cfg.paths.root / "textfile" / "imdbops_drift.prom"
    result = _monitor("run", "--reference", str(streams.profile_path), "--textfile", str(prom))
    assert result.exit_code == 0, result.output
    summary = read_latest_summary(cfg)
    assert summary["status"] == "ok" and not summary["drift_detected"]
    assert summary["drift_share"] < cfg.monitoring.drift_threshold
    assert summary["window"]["n_predictions"] == len(streams.heldout)
    report = cfg.monitoring.reports_dir / summary["report_html"]
    html = report.read_text()
    assert html.lstrip().lower().startswith("<!doctype html>") and "runtime_minutes" in html
    run_summary = json.loads((report.parent / "summary.json").read_text())
    assert run_summary == summary
    assert "imdbops_drift_detected 0.0" in prom.read_text()
    registry = CollectorRegistry()
    registry.register(DriftCollector(cfg))
    assert registry.get_sample_value("imdbops_drift_share") == summary["drift_share"]


def test_the_check_writes_nothing_and_the_writer_writes_its_result(cfg, streams):
    from imdbops.monitoring.drift import check_drift, write_drift_run

    write_prediction_log(cfg.monitoring.prediction_log_dir, streams.drifted, streams.drifted_proba)
    result = check_drift(cfg, reference_path=streams.profile_path)
    assert result.drift_detected and result.reasons[0]["reason"] == "feature_drift"
    assert not cfg.monitoring.reports_dir.exists() or not any(cfg.monitoring.reports_dir.iterdir())
    run = write_drift_run(cfg, result)
    assert read_latest_summary(cfg) == run.summary == result.summary(run.summary["run_id"])
    assert json.loads((run.run_dir / "summary.json").read_text()) == run.summary
    assert (run.run_dir / "report.html").stat().st_size > 0


def test_drifted_replay_is_flagged_with_exit_code_3(cfg, streams):
    write_prediction_log(cfg.monitoring.prediction_log_dir, streams.drifted, streams.drifted_proba)
    result = _monitor("run", "--reference", str(streams.profile_path))
    assert result.exit_code == 3, result.output
    summary = read_latest_summary(cfg)
    assert summary["drift_detected"] and summary["drift_share"] >= 0.5
    features = summary["features"]
    assert features["genre_short"]["drifted"] and features["runtime_minutes"]["drifted"]
    assert (
        summary["window"]["genre_frequencies"]["Drama"]
        < summary["reference"]["genre_frequencies"]["Drama"]
    )
    # `monitor status` reports the same verdict with the same exit code.
    status = _monitor("status", "--json")
    assert status.exit_code == 3 and json.loads(status.output)["run_id"] == summary["run_id"]


def test_retrain_runs_the_dag_and_records_the_gate_decision(cfg, streams, monkeypatch):
    # Stand-in for `imdbops pipeline run` (injectable by design): records the promote task's
    # result in the manifest of the run id it was given, as the real DAG does. A stale
    # decision.json from some other run must not be what the monitor reports.
    stale = cfg.paths.processed_dir / "decision.json"
    stale.write_text(json.dumps({"decision": "PROMOTE", "reason": "an older run"}))
    script = cfg.paths.root / "fake_dag.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, pathlib, sys
            run_id = sys.argv[-1]
            assert run_id == os.environ["IMDBOPS_RETRAIN_RUN_ID"]
            out = pathlib.Path("runs", run_id, "manifest.json")
            out.parent.mkdir(parents=True)
            result = {"decision": "HOLD", "reason": "no gain", "argv": sys.argv[1:-1]}
            task = {"state": "succeeded", "decision": "ran", "result": result}
            out.write_text(json.dumps({"run_id": run_id, "tasks": {"promote": task}}))
            """
        )
    )
    monkeypatch.setenv(
        "IMDBOPS_RETRAIN_COMMAND", f"{sys.executable} {script} pipeline run {{run_id}}"
    )
    write_prediction_log(cfg.monitoring.prediction_log_dir, streams.drifted, streams.drifted_proba)
    result = _monitor("run", "--retrain", "--reference", str(streams.profile_path))
    assert result.exit_code == 3, result.output
    retrain = read_latest_summary(cfg)["retrain"]
    assert retrain["status"] == "succeeded"
    assert retrain["decision"] == {
        "decision": "HOLD",
        "reason": "no gain",
        "argv": ["pipeline", "run"],
    }
    assert retrain["run_id"].startswith("retrain-")
    assert retrain["decision_fresh"] is True


def test_retrain_is_not_triggered_without_drift(cfg, streams, monkeypatch):
    monkeypatch.setenv("IMDBOPS_RETRAIN_COMMAND", f"{sys.executable} -c 'raise SystemExit(9)'")
    write_prediction_log(cfg.monitoring.prediction_log_dir, streams.heldout, streams.heldout_proba)
    result = _monitor("run", "--retrain", "--reference", str(streams.profile_path))
    assert result.exit_code == 0, result.output
    assert "retrain" not in read_latest_summary(cfg)


def test_failed_retrain_is_recorded(cfg, streams, monkeypatch):
    monkeypatch.setenv(
        "IMDBOPS_RETRAIN_COMMAND", f"{sys.executable} -c 'import sys; sys.exit(\"dag broke\")'"
    )
    write_prediction_log(cfg.monitoring.prediction_log_dir, streams.drifted, streams.drifted_proba)
    result = _monitor("run", "--retrain", "--reference", str(streams.profile_path))
    assert result.exit_code == 3
    retrain = read_latest_summary(cfg)["retrain"]
    assert retrain["status"] == "failed" and "dag broke" in retrain["error"]


@pytest.mark.parametrize("case", ["empty", "corrupted", "bad_profile"])
def test_bad_input_exits_2_with_a_clear_message_and_no_report(cfg, streams, case):
    reference = streams.profile_path
    if case == "corrupted":
        paths = write_prediction_log(
            cfg.monitoring.prediction_log_dir,
            streams.heldout,
            streams.heldout_proba,
            rows_per_file=500,
        )
        paths[-1].write_bytes(paths[-1].read_bytes()[:-200])
    elif case == "bad_profile":
        write_prediction_log(
            cfg.monitoring.prediction_log_dir, streams.heldout, streams.heldout_proba
        )
        reference = cfg.paths.root / "reference_profile.json"
        reference.write_text('{"profile_version": 0}')
    result = _monitor("run", "--reference", str(reference))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    expected = {
        "empty": "window is empty",
        "corrupted": str(paths[-1]) if case == "corrupted" else "",
        "bad_profile": "not a reference profile",
    }[case]
    assert expected in " ".join(result.output.split()).replace("\n", "")
    assert read_latest_summary(cfg) is None
    assert not cfg.monitoring.reports_dir.exists() or not any(cfg.monitoring.reports_dir.iterdir())
