"""``imdbops model reproduce``: a registered version rebuilt from its lineage alone.

Real pieces throughout: the raw CSV versioned and pushed to the DVC remote, the default
stack (LightGBM blender) trained, evaluated and registered in a real MLflow store, then
rebuilt by the CLI in an empty folder.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.dataops import versioning
from imdbops.dataops.versioning.cache import object_key
from imdbops.dataops.versioning.remote import remote_for
from imdbops.mlops.evaluate import evaluate
from imdbops.mlops.register_step import register
from imdbops.mlops.tracking import get_client
from imdbops.mlops.train import train
from imdbops.pipelines.contract import folder

pytestmark = pytest.mark.slow


@pytest.fixture
def registered(cfg, raw_csv, splits_dir):
    versioning.add(cfg, raw_csv)
    versioning.push(cfg, [raw_csv])
    cfg.training.model = "default"
    cfg.training.params = {"n_estimators": 60, "n_folds": 2}
    cfg.training.bootstrap_samples = 50
    model_dir = folder("model", cfg.paths.runs_dir / "model")
    eval_dir = folder("evaluation", cfg.paths.runs_dir / "eval")
    train(cfg, splits_dir, None, model_dir)
    evaluate(cfg, model_dir, splits_dir, eval_dir)
    return register(cfg, model_dir, eval_dir, splits_dir=splits_dir)


def _reproduce(*args: str):
    return CliRunner().invoke(app, ["model", "reproduce", *args])


def test_a_registered_version_is_rebuilt_exactly(cfg, registered, tmp_path):
    tags = registered.tags
    assert json.loads(tags["params_json"])["n_estimators"] == 60
    assert {"numpy", "scikit-learn", "lightgbm", "python"} <= set(json.loads(tags["lib_versions"]))

    workdir = tmp_path / "rebuild"
    result = _reproduce(registered.version, "--workdir", str(workdir), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["reproduced"] is True, report["diff"]
    assert report["max_abs_diff"] <= 1e-9
    assert report["metrics_rebuilt"] == report["metrics_registered"]
    assert report["rows"]["test"] > 0 and report["diff"] == []
    # The data came from the remote into the empty folder, not from the project's cache.
    assert versioning.md5_file(workdir / "raw" / "movies.csv") == tags["data_md5"]

    # One training parameter changed in the lineage: rebuilt, but not the same model.
    params = json.loads(registered.tags["params_json"])
    params["C_tfidf"] = params["C_tfidf"] * 10
    get_client(cfg).set_model_version_tag(
        cfg.tracking.model_name, registered.version, "params_json", json.dumps(params)
    )
    result = _reproduce(registered.version, "--workdir", str(tmp_path / "changed"))
    assert result.exit_code == 1, result.output
    assert "NOT reproduced" in result.output
    assert "diff: test probabilities differ by up to" in result.output


def test_bad_data_and_unknown_versions_are_one_line_errors(cfg, registered, tmp_path):
    # One altered byte on the remote is refused, and nothing lands in the work folder.
    md5 = registered.tags["data_md5"]
    remote = remote_for(cfg)
    path = remote.lake.path(object_key(md5))  # the default lake is a local folder
    blob = bytearray(open(path, "rb").read())
    blob[10] ^= 0x01
    open(path, "wb").write(bytes(blob))
    workdir = tmp_path / "w"
    result = _reproduce(registered.version, "--workdir", str(workdir))
    assert result.exit_code == 1
    assert md5 in result.output and "hashes to" in result.output
    assert not (workdir / "raw" / "movies.csv").exists()

    result = _reproduce("99", "--workdir", str(tmp_path / "a"))
    assert result.exit_code == 1 and "no version 99" in result.output
    assert f"known: {registered.version}" in result.output

    remote = remote_for(cfg)
    os.remove(remote.lake.path(object_key(registered.tags["data_md5"])))
    result = _reproduce(registered.version, "--workdir", str(tmp_path / "b"))
    assert result.exit_code == 1
    assert registered.tags["data_md5"] in result.output and "looked for" in result.output

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    result = _reproduce(registered.version, "--workdir", str(tmp_path / "full"))
    assert result.exit_code == 1 and "not empty" in result.output


def test_predict_explains_on_the_command_line(cfg, registered):
    runner = CliRunner()
    result = runner.invoke(app, ["predict", "Toy Story", "-g", "Animation,Comedy"])
    assert result.exit_code == 1 and "no champion yet" in result.output

    args = ["predict", "Toy Story 2", "-g", "Animation,Comedy", "--year", "1999"]
    args += ["--model-version", registered.version, "--explain"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    exp = out["explanation"]
    total = exp["base_value"] + sum(c["contribution"] for c in exp["contributions"])
    assert total == pytest.approx(exp["raw_score"], abs=1e-6)
    assert exp["probability"] == pytest.approx(out["probability"], abs=1e-9)
    assert {c["feature"]: c["value"] for c in exp["contributions"]}.get("year") in (1999.0, None)

    text = runner.invoke(app, args)
    assert text.exit_code == 0 and "because: " in text.output
    assert exp["reasons"][0] in text.output

    bad = runner.invoke(app, ["predict", "X", "-g", "Comedy,Spaceships"])
    assert bad.exit_code == 1 and "Spaceships" in bad.output and "allowed:" in bad.output
