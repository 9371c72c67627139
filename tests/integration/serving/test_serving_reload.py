"""Model lifecycle in a running server: no champion -> first champion -> alias moves -> a
broken version is refused while the previous one keeps serving."""

from __future__ import annotations

import copy
import hashlib
import threading
import time

import httpx
import pytest
from support.serving import register_champion, running_server

from imdbops.serving.app import create_app

ITEM = {"title": "The Matrix", "genres": ["Action", "Sci-Fi"], "year": 1999}


def _wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _sha256_files(root, digest: str):
    for path in root.rglob("*"):
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            yield path


def test_champion_lifecycle(tmp_path, small_model, config_factory):
    cfg = config_factory(tmp_path, reload_poll_s=0.3)
    token = cfg.serving.admin_token.get_secret_value()
    auth = {"Authorization": f"Bearer {token}"}
    with running_server(create_app(cfg)) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        # 1. No champion yet: the app runs, says why it is not ready, refuses predictions.
        ready = c.get("/api/v1/ready")
        assert ready.status_code == 503
        assert "imdbops pipeline run" in ready.json()["message"]
        refused = c.post("/api/v1/predict", json={"items": [ITEM]})
        assert refused.status_code == 503
        assert "run `imdbops pipeline run` first" in refused.json()["message"]
        assert c.get("/api/v1/model").status_code == 503
        assert c.get("/api/v1/").status_code == 200  # liveness does not depend on a model

        # 2. The first champion appears: the poller loads it.
        assert register_champion(cfg, small_model) == "1"
        _wait_for(lambda: c.get("/api/v1/ready").status_code == 200, what="version 1")
        assert (
            c.post("/api/v1/predict", json={"items": [ITEM]}).json()["data"]["predictions"][0][
                "model_version"
            ]
            == "1"
        )

        # 3. The alias moves to version 2 while clients keep predicting: no request fails,
        #    and once a client has seen version 2 it never sees version 1 again.
        changed = copy.deepcopy(small_model)
        changed.steps[-1][1].intercept_ = changed.steps[-1][1].intercept_ + 0.25
        stop = threading.Event()
        seen: list[list[tuple[int, str | None]]] = [[] for _ in range(4)]

        def hammer(log: list[tuple[int, str | None]]) -> None:
            with httpx.Client(base_url=srv.url, timeout=60) as own:
                while not stop.is_set():
                    r = own.post("/api/v1/predict", json={"items": [ITEM, ITEM]})
                    versions = (
                        {p["model_version"] for p in r.json()["data"]["predictions"]}
                        if r.status_code == 200
                        else {None}
                    )
                    assert len(versions) == 1  # one request, one model
                    log.append((r.status_code, versions.pop()))

        threads = [threading.Thread(target=hammer, args=(log,)) for log in seen]
        for t in threads:
            t.start()
        try:
            assert register_champion(cfg, changed, tag="v2") == "2"
            reload = c.post("/api/v1/admin/reload", headers=auth)
            assert reload.status_code == 200, reload.text
            assert reload.json()["data"]["version"] == "2"
            _wait_for(lambda: all(log and log[-1][1] == "2" for log in seen), what="clients on v2")
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        for log in seen:
            assert all(status == 200 for status, _ in log), log
            versions = [v for _, v in log]
            assert "2" in versions
            first_v2 = versions.index("2")
            assert set(versions[first_v2:]) == {"2"}, versions

        # 4. A champion whose artifact was tampered with is refused; version 2 keeps serving.
        from imdbops.mlops.tracking import get_client

        client = get_client(cfg)
        digest = client.get_model_version(cfg.tracking.model_name, "1").tags["artifact_sha256"]
        tampered = list(_sha256_files(cfg.tracking.artifact_dir, digest))
        assert tampered, "version 1's artifact was not found under the artifact folder"
        for path in tampered:
            path.write_bytes(path.read_bytes() + b"tampered")
        from imdbops.mlops.registry import set_alias

        set_alias(cfg, "1", "champion")
        refused = c.post("/api/v1/admin/reload", headers=auth)
        assert refused.status_code == 409, refused.text
        assert "still serving version 2" in refused.json()["message"]
        assert "ModelIntegrityError" in refused.json()["message"]
        answer = c.post("/api/v1/predict", json={"items": [ITEM]})
        assert answer.status_code == 200
        assert answer.json()["data"]["predictions"][0]["model_version"] == "2"
        ready = c.get("/api/v1/ready").json()["data"]
        assert ready["ready"] is True and "ModelIntegrityError" in ready["last_reload_error"]
        assert "imdbops_model_reload_failures_total 1.0" in c.get("/metrics").text


@pytest.mark.parametrize("token", [None, ""])
def test_admin_reload_is_disabled_without_a_token(tmp_path, token, config_factory):
    cfg = config_factory(tmp_path, admin_token=token)
    # No model load at start: this is about the guard, and an empty MLflow store is slow to create.
    with (
        running_server(create_app(cfg, load_on_startup=False)) as srv,
        httpx.Client(base_url=srv.url) as c,
    ):
        r = c.post("/api/v1/admin/reload", headers={"Authorization": "Bearer anything"})
        assert r.status_code == 404
        assert "serving.admin_token" in r.json()["message"]
