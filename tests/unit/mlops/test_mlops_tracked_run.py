"""tracked_run: every MLflow run ends FINISHED or FAILED, never left RUNNING (real SQLite store)."""

from __future__ import annotations

import pytest

from imdbops.config import load_config
from imdbops.mlops.tracking import get_client, mlflow_session, tracked_run


@pytest.fixture(scope="module")
def store_cfg(tmp_path_factory):
    # One store for the module: creating an MLflow SQLite database costs seconds.
    return load_config(paths={"root": tmp_path_factory.mktemp("tracked-run")})


def _status(cfg, run_id: str) -> str:
    return get_client(cfg).get_run(run_id).info.status


def test_a_block_that_completes_ends_finished(store_cfg):
    with tracked_run(store_cfg, run_name="ok", tags={"k": "v"}) as run:
        assert _status(store_cfg, run.run_id) == "RUNNING"
        run.client.log_metric(run.run_id, "m", 1.0)
    assert _status(store_cfg, run.run_id) == "FINISHED"
    assert get_client(store_cfg).get_run(run.run_id).data.tags["k"] == "v"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt(), SystemExit(3)])
def test_anything_escaping_the_block_ends_the_run_failed(store_cfg, error):
    with pytest.raises(type(error)), tracked_run(store_cfg, run_name="bad") as run:
        raise error
    assert _status(store_cfg, run.run_id) == "FAILED"


def test_end_as_chooses_the_status_even_on_the_way_out(store_cfg):
    class Pruned(Exception):
        pass

    with pytest.raises(Pruned), tracked_run(store_cfg, run_name="pruned") as run:
        run.end_as("KILLED")
        raise Pruned
    assert _status(store_cfg, run.run_id) == "KILLED"


def test_fluent_run_is_active_inside_and_gone_after_a_failure(store_cfg):
    with tracked_run(store_cfg, run_name="first") as first:
        pass
    with pytest.raises(ValueError), tracked_run(store_cfg, run_id=first.run_id, fluent=True):
        with mlflow_session(store_cfg) as mlflow:
            assert mlflow.active_run().info.run_id == first.run_id
            assert _status(store_cfg, first.run_id) == "RUNNING"  # reopened
            mlflow.log_param("p", "1")
        raise ValueError("bad model")
    assert _status(store_cfg, first.run_id) == "FAILED"
    with mlflow_session(store_cfg) as mlflow:
        assert mlflow.active_run() is None  # the next fluent start_run is not blocked
    assert get_client(store_cfg).get_run(first.run_id).data.params == {"p": "1"}
