"""Trigger the training DAG after drift and read the promotion gate's decision.

The DAG runs as a subprocess (``imdbops pipeline run --run-id <id>`` with the same config
file and environment), so a crash or a memory-hungry training run cannot take the monitor
down, and the monitor needs none of the training imports. The decision is the promote
task's result in *that run's* manifest (``<runs_dir>/<id>/manifest.json``): never a
``decision.json`` some other run left on disk. ``$IMDBOPS_RETRAIN_COMMAND`` replaces the
command (e.g. to trigger an Airflow DAG instead); ``{run_id}`` in it is replaced by the run id
the monitor will read, which the command also finds in ``$IMDBOPS_RETRAIN_RUN_ID``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.config import Config
from imdbops.log import get_logger, redact
from imdbops.orchestrator.manifest import Manifest, ManifestError

log = get_logger("monitoring.retrain")

RETRAIN_ENV = "IMDBOPS_RETRAIN_COMMAND"
RUN_ID_ENV = "IMDBOPS_RETRAIN_RUN_ID"
PROMOTE_TASK = "promote"


def new_retrain_run_id() -> str:
    return (
        time.strftime("retrain-%Y%m%dT%H%M%SZ", time.gmtime(clock.time()))
        + "-"
        + uuid.uuid4().hex[:6]
    )


def retrain_command(config_path: Path | None = None, run_id: str | None = None) -> list[str]:
    custom = os.environ.get(RETRAIN_ENV, "").strip()
    if custom:
        return [part.replace("{run_id}", run_id or "") for part in shlex.split(custom)]
    script = Path(sys.executable).with_name("imdbops")
    base = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from imdbops.cli import app; app()"]
    )
    if config_path is not None:
        base += ["--config", str(config_path)]
    return [*base, "pipeline", "run", *(["--run-id", run_id] if run_id else [])]


def read_promote_result(cfg: Config, run_id: str) -> tuple[dict[str, Any] | None, bool, str]:
    """(decision, fresh, problem) of the promote task in run ``run_id``'s manifest.

    Fresh means the task ran in that run; a cache hit carries the earlier run's decision
    (``fresh=False``). ``problem`` is set when there is no decision to report.
    """
    from imdbops.run_state import state_store

    try:
        manifest = Manifest.load(state_store(cfg), run_id)
    except ManifestError as exc:
        return None, False, f"the training run wrote no manifest: {exc}"
    info = manifest.tasks.get(PROMOTE_TASK) or {}
    result = info.get("result")
    if info.get("state") not in ("succeeded", "skipped") or not isinstance(result, dict):
        return (
            None,
            False,
            (
                f"run {run_id} has no result for its {PROMOTE_TASK} task "
                f"(state {info.get('state', 'missing')}); see `imdbops pipeline status {run_id}`"
            ),
        )
    decision = {k: v for k, v in result.items() if k != "external"}
    return decision, info.get("decision") == "ran", ""


def trigger_retrain(
    cfg: Config, config_path: Path | None = None, timeout_s: float | None = None
) -> dict[str, Any]:
    """Run the training DAG and return what happened, including the gate's decision."""
    run_id = new_retrain_run_id()
    command = retrain_command(config_path, run_id)
    started, stamped = time.time(), clock.time()
    log.info("drift detected: starting the training DAG: %s", redact(shlex.join(command)))
    try:
        proc = subprocess.run(
            command,
            cwd=cfg.paths.root,
            timeout=timeout_s,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, RUN_ID_ENV: run_id},
        )
        exit_code, tail = proc.returncode, (proc.stderr or proc.stdout or "")[-2000:]
    except FileNotFoundError as exc:
        exit_code, tail = 127, f"cannot run {command[0]}: {exc}"
    except subprocess.TimeoutExpired:
        exit_code, tail = 124, f"the training DAG did not finish within {timeout_s} s"
    result: dict[str, Any] = {
        "status": "succeeded" if exit_code == 0 else "failed",
        "exit_code": exit_code,
        "command": redact(shlex.join(command)),
        "run_id": run_id,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamped)),
        "duration_s": round(time.time() - started, 2),
        "decision": None,
    }
    if exit_code != 0:
        result["error"] = redact(tail.strip())
    else:
        decision, fresh, problem = read_promote_result(cfg, run_id)
        if decision is None:
            result["error"] = problem
        else:
            result["decision"] = decision
            result["decision_fresh"] = fresh
            if not fresh:
                result["note"] = (
                    "the training DAG's inputs were unchanged, so it re-ran nothing; this is the "
                    "previous gate decision (ingest new data first for a real retrain)"
                )
    log.info("retrain %s; gate decision: %s", result["status"], result["decision"])
    return result
