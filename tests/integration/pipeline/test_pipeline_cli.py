"""``imdbops pipeline`` commands and the training DAG definition (no model training here;
the end-to-end run on the bundled data is in tests/integration/airflow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.config import load_config
from imdbops.orchestrator.codehash import code_fingerprint
from imdbops.pipelines.training import EDGES, TASK_NAMES, build_dag, run_train, run_tune

SRC = Path(__file__).resolve().parents[3] / "src"


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_show_prints_the_dag_and_writes_pictures(cfg):
    result = _invoke("pipeline", "show")
    assert result.exit_code == 0, result.output
    numbered = [line.split(". ", 1)[1] for line in result.output.splitlines() if ". " in line[:5]]
    assert numbered == list(TASK_NAMES)
    mmd = (cfg.paths.reports_dir / "pipeline" / "dag.mmd").read_text()
    assert "extract -->|extract| validate_raw" in mmd and "validate_raw -.-> load" in mmd
    dot = (cfg.paths.reports_dir / "pipeline" / "dag.dot").read_text()
    assert '"tune" -> "train" [label="best_params"];' in dot


def test_definition_is_consistent_and_light(cfg):
    dag = build_dag(cfg)
    assert dag.topological_order() == list(TASK_NAMES)
    assert sorted(dag.edges()) == sorted(EDGES)
    # The Airflow venv has none of our dependencies: the definition must import with the
    # standard library alone (-S: no site-packages at all).
    probe = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {str(SRC)!r}); import imdbops.pipelines.training as p; "
            "print(len(p.TASK_SPECS), sorted(m for m in sys.modules if m.startswith("
            "('pydantic', 'yaml', 'rich', 'pandas'))))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["12", "[]"]


def test_training_parameter_keys_only_the_tasks_that_use_it(cfg, tmp_path):
    before = build_dag(cfg)
    changed = load_config(paths={"root": tmp_path}, training={"n_trials": 99})
    after = build_dag(changed)
    differs = [n for n in TASK_NAMES if before.tasks[n].params != after.tasks[n].params]
    assert differs == ["tune"]
    seed = load_config(paths={"root": tmp_path}, training={"seed": 7})
    differs = [n for n in TASK_NAMES if before.tasks[n].params != build_dag(seed).tasks[n].params]
    assert differs == ["split", "tune", "train", "evaluate", "promote"]


def test_wrapper_code_hash_follows_its_own_step_only():
    tune_modules = code_fingerprint(run_tune, ["imdbops"])["modules"]
    train_modules = code_fingerprint(run_train, ["imdbops"])["modules"]
    assert "imdbops.mlops.tune" in tune_modules
    assert "imdbops.mlops.train" in train_modules
    assert not any(m.startswith("imdbops.orchestrator") for m in tune_modules)
    assert "imdbops.serving.api" not in train_modules


def test_missing_warehouse_fails_clearly_and_is_recorded(cfg):
    status = _invoke("pipeline", "status")
    assert status.exit_code == 1 and "no runs under" in status.output

    result = _invoke("pipeline", "run", "--run-id", "first")
    assert result.exit_code == 1
    assert "task 'extract' failed" in result.output
    assert "imdbops warehouse build" in result.output
    assert "imdbops pipeline resume first" in result.output
    assert "Traceback" not in result.output

    manifest = json.loads((cfg.paths.runs_dir / "first" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["config_hash"] == cfg.fingerprint()
    assert manifest["tasks"]["extract"]["state"] == "failed"
    assert "MissingInputError" in manifest["tasks"]["extract"]["traceback"]
    assert manifest["tasks"]["promote"]["state"] == "upstream_failed"

    status = _invoke("pipeline", "status")
    assert status.exit_code == 0 and "first" in status.output and "failed" in status.output
    as_json = json.loads(_invoke("pipeline", "status", "first", "--json").output)
    assert as_json["run_id"] == "first"


def test_bad_task_names_are_user_errors(cfg):
    result = _invoke("pipeline", "run", "--force", "trian")
    assert result.exit_code == 1 and "unknown task(s) ['trian']" in result.output
    result = _invoke("pipeline", "task", "trian")
    assert result.exit_code == 1 and "unknown task 'trian'" in result.output
    result = _invoke("pipeline", "resume", "no-such-run")
    assert result.exit_code == 1 and "no run 'no-such-run'" in result.output


def test_task_refuses_inputs_that_changed_since_upstream(cfg):
    extract = cfg.paths.interim_dir / "extract.parquet"
    extract.write_bytes(b"not what extract wrote")
    report = {
        "task": "extract",
        "outputs": {"extract": {"path": str(extract), "sha256": "0" * 64}},
    }
    result = _invoke("pipeline", "task", "validate_raw", "--upstream", json.dumps(report))
    assert result.exit_code == 1
    assert "input 'extract'" in result.output and "changed since task 'extract'" in result.output
    result = _invoke("pipeline", "task", "validate_raw", "--upstream", "{oops")
    assert result.exit_code == 1 and "not the JSON printed by" in result.output


def test_outcome_shows_the_model_beside_baselines_like_for_like(cfg, capsys):
    from imdbops.cli.pipeline import _print_outcome
    from imdbops.pipelines.training import artifact_paths

    paths = artifact_paths(cfg)
    metrics = {"test_roc_auc": 0.7648, "title_genres_roc_auc": 0.6985}
    metrics |= {"baseline_logreg_roc_auc": 0.6969, "baseline_majority_roc_auc": 0.5}
    paths["evaluation"].mkdir(parents=True, exist_ok=True)
    (paths["evaluation"] / "metrics.json").write_text(json.dumps(metrics))
    paths["decision"].parent.mkdir(parents=True, exist_ok=True)
    paths["decision"].write_text(
        json.dumps({"decision": "HOLD", "challenger_version": "3", "reason": "not significant"})
    )
    _print_outcome(cfg)
    out = capsys.readouterr().out
    assert "model (t+g)" in out
    roc = next(line for line in out.splitlines() if "roc_auc" in line and "pr_auc" not in line)
    assert [c for c in roc.replace("│", " ").split()[1:]] == [
        "0.7648",
        "0.6985",
        "0.6969",
        "0.5000",
    ]
    assert "promotion: HOLD version 3 - not significant" in out
    _print_outcome(cfg, reused=True)
    assert "promotion (unchanged: nothing new to decide, from an earlier run): HOLD" in (
        capsys.readouterr().out
    )
