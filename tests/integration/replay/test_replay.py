"""A short replay of time on the one-machine stack and on the server stack (PostgreSQL
warehouse, S3 artifacts, lake and prediction log on moto, an MLflow server): the real
commands and a real API over two yearly snapshots; each period's outputs agree."""

from __future__ import annotations

import pytest
from integration.replay.replay_checks import check_replay, project_config, run_replay
from support.servers import needs_stack, shared_stack


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_short_replay_on_one_machine(tmp_path, monkeypatch):
    project = tmp_path / "project"
    data = run_replay(project, {})
    check_replay(project, data, project_config(project, {}, monkeypatch))
    assert data["settings"]["stack"] == "duckdb, local artifacts, MLflow on SQLite"


@pytest.mark.slow
@pytest.mark.timeout(1200)
@needs_stack
def test_a_short_replay_on_the_server_stack(tmp_path, monkeypatch):
    with shared_stack(tmp_path / "servers") as stack:
        project = tmp_path / "project"
        data = run_replay(project, stack["env"])
        check_replay(project, data, project_config(project, stack["env"], monkeypatch))
        assert data["settings"]["stack"] == "postgres, object store, MLflow server"
        state = data["periods"][-1]["state"]
        assert state["artifacts_url"] > 0 and state["lake"] > 0
        # The API shipped its log to the object store, every period's day of it.
        shipped = stack["fs"].find("imdbops/predictions")
        assert {d["date"] for d in data["periods"]} <= {
            p.split("date=")[1][:10] for p in shipped if "date=" in p
        }
