"""Registry hit checks against stores that cannot be asked: an error naming the URL,
never an answer (the real stores are exercised in tests/integration/pipeline)."""

from __future__ import annotations

import pytest
from support.ports import free_port

from imdbops.mlops.registry_checks import check_alias, check_model_version
from imdbops.orchestrator.catalog import ExternalUnreachableError


def _closed_port() -> int:
    return free_port()


def test_a_tracking_server_that_is_down_is_an_error_naming_it_without_credentials():
    uri = f"http://127.0.0.1:{_closed_port()}"
    identity = {"tracking_uri": uri, "model": "m", "alias": "champion"}
    access = {"tracking_uri": uri.replace("http://", "http://user:s3cret@"), "display": uri}
    with pytest.raises(ExternalUnreachableError) as err:
        check_model_version(identity, {"version": "1", "artifact_sha256": "x"}, access)
    assert f"cannot reach the MLflow server {uri}" in str(err.value)
    assert "s3cret" not in str(err.value)
    with pytest.raises(ExternalUnreachableError, match="cannot reach the MLflow server"):
        check_alias(identity, {"alias": "champion", "version": "1"}, access)


def test_an_absent_sqlite_store_means_the_output_is_missing(tmp_path):
    uri = f"sqlite:///{tmp_path / 'never-created.db'}"
    identity = {"tracking_uri": uri, "model": "m", "alias": "champion"}
    problem = check_model_version(identity, {"version": "3", "artifact_sha256": "x"}, {})
    assert problem == f"external output missing: model version 3 of m in {uri}"
    assert check_alias(identity, {"alias": "champion", "version": None}, {}) is None
