"""Trigger the training DAG after drift and read the promotion gate's decision.

The DAG runs as a subprocess (``imdbops pipeline run`` with the same config file and
environment), so a crash or a memory-hungry training run cannot take the monitor down, and
the monitor needs none of the training imports. ``$IMDBOPS_RETRAIN_COMMAND`` replaces the
command (e.g. to trigger an Airflow DAG instead: ``airflow dags trigger imdbops_training``).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from imdbops.config import Config
from imdbops.log import get_logger, redact

log = get_logger("monitoring.retrain")

RETRAIN_ENV = "IMDBOPS_RETRAIN_COMMAND"
DECISION_FILE = "decision.json"


def retrain_command(config_path: Path | None = None) -> list[str]:
    custom = os.environ.get(RETRAIN_ENV, "").strip()
    if custom:
        return shlex.split(custom)
    script = Path(sys.executable).with_name("imdbops")
    base = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from imdbops.cli import app; app()"]
    )
    if config_path is not None:
        base += ["--config", str(config_path)]
    return [*base, "pipeline", "run"]


def find_decision(cfg: Config, since: float) -> Path | None:
    """The newest ``decision.json`` written by the promote step since ``since`` (epoch s)."""
    newest: tuple[float, Path] | None = None
    for folder in (cfg.paths.runs_dir, cfg.paths.processed_dir, cfg.paths.interim_dir):
        if not folder.is_dir():
            continue
        for path in folder.rglob(DECISION_FILE):
            mtime = path.stat().st_mtime
            if mtime >= since - 1 and (newest is None or mtime > newest[0]):
                newest = (mtime, path)
    return newest[1] if newest else None


def trigger_retrain(
    cfg: Config, config_path: Path | None = None, timeout_s: float | None = None
) -> dict[str, Any]:
    """Run the training DAG and return what happened, including the gate's decision."""
    command = retrain_command(config_path)
    started = time.time()
    log.info("drift detected: starting the training DAG: %s", redact(shlex.join(command)))
    try:
        proc = subprocess.run(
            command,
            cwd=cfg.paths.root,
            timeout=timeout_s,
            capture_output=True,
            text=True,
            check=False,
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
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 2),
        "decision": None,
        "decision_path": None,
    }
    if exit_code != 0:
        result["error"] = redact(tail.strip())
    path = find_decision(cfg, started)
    if path is not None:
        try:
            result["decision"] = json.loads(path.read_text(encoding="utf-8"))
            result["decision_path"] = str(path)
        except (OSError, json.JSONDecodeError) as exc:
            result["error"] = f"cannot read the gate decision {path}: {exc}"
    elif exit_code == 0:
        result["error"] = (
            f"the training DAG finished but wrote no {DECISION_FILE} under "
            f"{cfg.paths.runs_dir}; check that its promote step ran"
        )
    log.info("retrain %s; gate decision: %s", result["status"], result["decision"])
    return result
