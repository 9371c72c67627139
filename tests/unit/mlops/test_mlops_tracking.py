"""Tracking helpers: fail-fast probe without credentials, lineage values, config validation."""

from __future__ import annotations

import pytest

from imdbops.config import load_config
from imdbops.mlops.tracking import (
    TrackingUnavailableError,
    check_tracking,
    data_md5,
    file_md5,
    git_commit,
    public_uri,
)
from imdbops.mlops.tune import resolve_spec
from imdbops.pipelines.contract import folder


def test_public_uri_drops_credentials():
    assert public_uri("https://bob:s3cret@mlflow.example:5000/x") == "https://mlflow.example:5000/x"
    assert public_uri("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def test_unreachable_server_fails_fast_without_credentials(tmp_path, free_port):
    cfg = load_config(
        paths={"root": tmp_path},
        tracking={"uri": f"http://bob:hunter22@127.0.0.1:{free_port}"},
    )
    with pytest.raises(TrackingUnavailableError) as err:
        check_tracking(cfg)
    message = str(err.value)
    assert f"http://127.0.0.1:{free_port}" in message
    assert "hunter22" not in message and "bob" not in message


def test_unreachable_server_stops_train_before_any_work(tmp_path, free_port):
    from imdbops.mlops.train import train

    cfg = load_config(paths={"root": tmp_path}, tracking={"uri": f"http://127.0.0.1:{free_port}"})
    with pytest.raises(TrackingUnavailableError):
        train(cfg, folder("splits", tmp_path / "no"), None, folder("model", tmp_path / "m"))


def test_data_md5_prefers_the_dvc_file(cfg):
    raw = cfg.paths.raw_dir / "movies.csv"
    raw.write_text("a,b\n1,2\n")
    assert data_md5(cfg) == file_md5(raw)
    raw.with_name("movies.csv.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 8\n  hash: md5\n  path: movies.csv\n"
    )
    assert data_md5(cfg) == "0123456789abcdef0123456789abcdef"


def test_git_commit_outside_git_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"


def test_unknown_model_lists_allowed_names(tmp_path):
    cfg = load_config(paths={"root": tmp_path}, training={"model": "gpt"})
    with pytest.raises(ValueError, match="allowed: .*logreg"):
        resolve_spec(cfg)


def test_impossible_parameter_is_named(tmp_path):
    cfg = load_config(paths={"root": tmp_path}, training={"model": "logreg", "params": {"C": -1}})
    with pytest.raises(ValueError, match="C"):
        resolve_spec(cfg)


def test_tune_and_train_refuse_bad_config_before_any_work(tmp_path):
    from imdbops.mlops.models import UnknownModelError
    from imdbops.mlops.train import train
    from imdbops.mlops.tune import tune

    cfg = load_config(paths={"root": tmp_path}, training={"model": "gpt"})
    with pytest.raises(UnknownModelError, match="allowed"):
        tune(cfg, folder("splits", tmp_path / "splits"), tmp_path / "best.json")
    cfg = load_config(paths={"root": tmp_path}, training={"model": "logreg", "params": {"zz": 1}})
    with pytest.raises(ValueError, match="zz"):
        train(cfg, folder("splits", tmp_path / "s"), None, folder("model", tmp_path / "m"))
    assert not (tmp_path / ".imdbops").exists()  # no study, no tracking store created
