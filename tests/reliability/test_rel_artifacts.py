"""A model artifact altered after registration is refused; the app keeps the old model."""

from __future__ import annotations

import hashlib

import httpx
from support.ports import free_port
from support.relkit import ServerProcess, write_config
from support.serving import register_champion

from imdbops.config import load_config
from imdbops.mlops.registry import ModelIntegrityError, get_client, load_version

TOKEN = "artifact-test-token"


def _stored_file_with_sha(root, sha: str):
    for path in root.rglob("*"):
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha:
            return path
    raise AssertionError(f"no stored artifact with sha256 {sha} under {root}")


def test_tampered_artifact_is_refused_and_old_model_keeps_serving(tmp_path, record):
    config = write_config(tmp_path)
    cfg = load_config(config)
    register_champion(cfg, tag="v1")
    server = ServerProcess(config, free_port(), env={"IMDBOPS_SERVING__ADMIN_TOKEN": TOKEN})
    server.start()
    try:
        v2 = register_champion(cfg, tag="v2")  # also moves the alias to v2
        client = get_client(cfg)
        tag = client.get_model_version(cfg.tracking.model_name, v2).tags["artifact_sha256"]
        stored = _stored_file_with_sha(cfg.tracking.artifact_dir, tag)
        with open(stored, "ab") as fh:  # an attacker (or a bad disk) changes the bytes
            fh.write(b"\x00tampered")

        try:
            load_version(cfg, v2)
            raise AssertionError("a tampered artifact must not load")
        except ModelIntegrityError as exc:
            load_error = str(exc)
        assert "does not match" in load_error and tag in load_error

        reload = httpx.post(
            server.url + "/api/v1/admin/reload",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        predict = httpx.post(
            server.url + "/api/v1/predict",
            json={"items": [{"title": "Heat", "genres": ["Crime", "Drama"]}]},
            timeout=30,
        )
        ready = httpx.get(server.url + "/api/v1/ready", timeout=10)
    finally:
        server.stop()
    served = predict.json()["data"]["predictions"][0]["model_version"]
    record(
        "artifacts",
        "model altered after registration",
        "registered v2, appended bytes to its stored model file, moved champion to v2, "
        "POST /api/v1/admin/reload",
        f"refused (HTTP {reload.status_code}); still serving v{served}",
        reload_status=reload.status_code,
        predict_status=predict.status_code,
        served_version=served,
    )
    assert reload.status_code == 409
    assert "ModelIntegrityError" in reload.json()["message"]
    assert predict.status_code == 200 and served == "1"
    assert ready.status_code == 200
