"""A registry trained on one machine, served by an MLflow server to another.

The embedded registry records absolute ``file://`` artifact paths. Moved to a server machine
(here: its folder moved away, so the original path no longer exists, as on any other host)
and served by ``mlflow server`` over its SQLite database, a client's download fails; that
failure must name its cause and the fix. ``imdbops model relocate-artifacts`` then rewrites
the locations to the server's proxied form, the client loads the same champion, and
``--to file:///...`` makes the moved registry usable locally again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.ports import free_port
from support.servers import mlflow_server, needs_stack
from support.serving import register_champion, train_small_model

from imdbops.config import load_config

pytestmark = [pytest.mark.slow, needs_stack]
BIN = Path(sys.executable).parent


def test_a_registry_trained_here_serves_its_champion_to_another_machine(tmp_path, monkeypatch):
    from imdbops.mlops.registry import ArtifactsUnreachableError, load_champion

    # imdbops fails fast (5 s) on a slow tracking server; a busy CI machine needs more room.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")

    laptop = tmp_path / "laptop"
    model, example = train_small_model()
    version = register_champion(load_config(paths={"root": laptop}), model)

    server = tmp_path / "server"
    shutil.move(laptop, server)  # the path the registry recorded exists no more
    here = load_config(paths={"root": server})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMDBOPS_", "MLFLOW_"))}
    args = [
        f"--backend-store-uri={here.tracking_uri}",
        "--serve-artifacts",
        f"--artifacts-destination={here.tracking.artifact_dir}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--workers=1",
    ]
    with mlflow_server(args, env, server, port=port) as url:
        pod = load_config(paths={"root": tmp_path / "pod"}, tracking={"uri": url})
        with pytest.raises(ArtifactsUnreachableError) as failure:
            load_champion(pod)
        message = str(failure.value)
        assert str(laptop) in message and "relocate-artifacts" in message, message

        out = subprocess.run(
            [str(BIN / "imdbops"), "model", "relocate-artifacts"],
            env={**env, "IMDBOPS_PATHS__ROOT": str(server)},
            cwd=server,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["to"] == "mlflow-artifacts:" and result["rows"]["runs.artifact_uri"] >= 1

        loaded = load_champion(pod)
        assert loaded is not None and loaded.version == version
        assert loaded.model.predict_proba(example).tolist() == model.predict_proba(example).tolist()

    # Back to one machine: the moved folder becomes the registry's local artifact root.
    from imdbops.mlops.registry_relocate import relocate_artifacts

    relocate_artifacts(here, here.tracking.artifact_dir.resolve().as_uri())
    local = load_champion(here)
    assert local is not None and local.version == version
