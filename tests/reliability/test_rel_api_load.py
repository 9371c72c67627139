"""The API under a steady mixed load, with a model reload in the middle."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from support.loadtest import run_load
from support.ports import free_port
from support.relkit import (
    ServerProcess,
    count_logged_predictions,
    write_config,
)
from support.serving import bundled_items, register_champion, train_small_model

from imdbops.config import load_config
from imdbops.mlops.registry import log_model_version, set_alias

TOKEN = "reload-token-for-tests"


@pytest.mark.slow
def test_steady_mixed_load_with_reload_loses_nothing(tmp_path, record):
    config = write_config(tmp_path)
    cfg = load_config(config)
    register_champion(cfg, tag="v1")
    items, _ = bundled_items(400, seed=3)
    server = ServerProcess(config, free_port(), env={"IMDBOPS_SERVING__ADMIN_TOKEN": TOKEN})
    server.start()
    reload_answer: dict = {}

    # v2 is trained and registered up front (as a training job would have done); half-way
    # through the load the champion alias moves to it and the server is told to reload.
    model, example = train_small_model(n=1500, seed=11)
    v2 = log_model_version(
        cfg, model, metrics={"roc_auc": 0.7}, params={"model": "logreg"},
        tags={"data_md5": "e" * 32, "git_commit": "v2", "trained_at": "2026-01-02T00:00:00Z",
              "model_kind": "logreg", "split_md5": "v2"},
        input_example=example,
    ).version  # fmt: skip

    async def reload_midway() -> None:
        await asyncio.to_thread(set_alias, cfg, v2, "champion")
        version = v2
        async with httpx.AsyncClient(timeout=60) as client:
            resp = await client.post(
                server.url + "/api/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}
            )
        reload_answer.update(status=resp.status_code, version=version)

    try:
        result = asyncio.run(
            run_load(server.url, items, rate=60, duration_s=60, midway=reload_midway)
        )
    finally:
        exit_code = server.stop()
    logged = count_logged_predictions(cfg.monitoring.prediction_log_dir)
    summary = result.summary()
    lost = summary["predictions_answered"] - logged
    record(
        "api",
        "steady load 60 s + reload",
        "60 req/s for 60 s: 60% single, 20% 10-item batches, 20% invalid (empty/long titles, "
        "unknown genres, wrong types, bad JSON, >1,000 items, 1.1 MB bodies); champion moved "
        "and reloaded half-way; clean stop (SIGTERM)",
        "no 5xx, no lost records" if not result.server_errors and lost == 0 else "FAILED",
        requests=summary["sent"],
        status_counts=summary["status_counts"],
        server_errors=summary["server_errors"],
        transport_errors=summary["transport_errors"],
        closed_on_oversize=result.errors_by_kind.get("oversize", 0),
        predictions=summary["predictions_answered"],
        records_logged=logged,
        records_lost=lost,
        p50_ms=summary["p50_ms"],
        p99_ms=summary["p99_ms"],
        versions=summary["versions"],
    )
    # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean stop too.
    assert exit_code in (0, -15)
    assert result.server_errors == 0, summary
    # A 1.1 MB body is answered 413 and the connection closed while the client may still be
    # sending: the client then sees the close, not the 413. Every other kind must answer.
    assert set(result.errors_by_kind) <= {"oversize"}, (result.errors_by_kind, result.errors)
    assert reload_answer["version"] == "2"
    assert reload_answer["status"] == 200
    assert set(result.versions) == {"1", "2"}, "the reload must take effect under load"
    assert result.predictions_answered > 1000
    assert lost == 0
    # every invalid kind was really sent and answered 4xx
    assert all(400 <= code < 500 for code in result.statuses if code != 200)
