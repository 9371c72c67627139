"""The read-only config view each training step gets: its declared keys and nothing else."""

from __future__ import annotations

import pickle

import pytest

from imdbops.config_view import ConfigView, UndeclaredConfigKeyError
from imdbops.pipelines.contract import step_config
from imdbops.pipelines.training import DEFINED_IN, SPEC_BY_NAME, TASK_SPECS, build_dag


def test_a_step_reads_its_declared_keys_and_derived_values(cfg):
    view = step_config(cfg, SPEC_BY_NAME["register"], DEFINED_IN)
    assert view.tracking.model_name == cfg.tracking.model_name
    assert view.tracking_uri == cfg.tracking_uri  # computed through the view: keys declared
    assert view.paths.state_dir == cfg.paths.state_dir
    assert set(view.redacted()) == {"tracking", "paths"}
    assert pickle.loads(pickle.dumps(view)).tracking.model_name == cfg.tracking.model_name


def test_reading_an_undeclared_key_names_task_key_and_where_to_declare(cfg):
    view = step_config(cfg, SPEC_BY_NAME["split"], DEFINED_IN)
    with pytest.raises(UndeclaredConfigKeyError) as err:
        _ = view.training.n_trials
    message = str(err.value)
    assert message.startswith("task 'split' read config key 'training.n_trials' without")
    assert "TaskSpec('split') in src/imdbops/pipelines/training.py" in message
    assert "under params if the result depends on it" in message
    with pytest.raises(UndeclaredConfigKeyError, match="'lake'"):
        _ = view.lake
    with pytest.raises(UndeclaredConfigKeyError, match="'tracking'"):
        _ = view.tracking_uri  # derived values need their keys declared too
    # getattr with a default must not swallow it (it is not an AttributeError).
    with pytest.raises(UndeclaredConfigKeyError):
        getattr(view.training, "model", None)


def test_the_view_is_read_only_and_hands_out_copies(cfg):
    view = step_config(cfg, SPEC_BY_NAME["tune"], DEFINED_IN)
    with pytest.raises(TypeError, match="read-only"):
        view.training.seed = 1
    view.training.params["C"] = 99.0
    assert "C" not in cfg.training.params


def test_declaring_a_key_that_is_no_setting_fails_at_once(cfg):
    with pytest.raises(UndeclaredConfigKeyError, match="'training.n_trails', which is not"):
        ConfigView(cfg, ["training.n_trails"], owner="task 'x'", hint="")


def test_every_task_gets_a_view_and_settings_stay_out_of_the_cache_key(cfg, tmp_path):
    from imdbops.config import load_config

    dag = build_dag(cfg)
    for spec in TASK_SPECS:
        assert isinstance(dag.tasks[spec.name].resources["cfg"], ConfigView)
        assert not set(spec.params) & set(spec.settings), spec.name
    moved = load_config(paths={"root": tmp_path, "state_dir": tmp_path / "elsewhere"})
    other = build_dag(moved)
    assert all(dag.tasks[n].params == other.tasks[n].params for n in dag.tasks)
