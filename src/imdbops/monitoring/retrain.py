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


def catalog_decision_path(cfg: Config) -> Path:
    """Where the training DAG's promote step writes its decision (the DAG's catalog)."""
    try:
        from imdbops.pipelines import artifact_paths

        return Path(artifact_paths(cfg)["decision"])
    except (ImportError, KeyError):
        return cfg.paths.processed_dir / DECISION_FILE


def find_decision(cfg: Config, since: float) -> tuple[Path | None, bool]:
    """The gate decision of this retrain: (path, fresh).

    Fresh means written since ``since`` (epoch s). When the DAG re-ran nothing because its
    inputs did not change, the promote step was a cache hit: the catalog's decision is the
    previous one, returned with ``fresh=False`` so the summary says so.
    """
    candidates = [catalog_decision_path(cfg)]
    for folder in (cfg.paths.runs_dir, cfg.paths.processed_dir):
        if folder.is_dir():
            candidates.extend(folder.rglob(DECISION_FILE))
    newest: tuple[float, Path] | None = None
    for path in candidates:
        if path.is_file():
            mtime = path.stat().st_mtime
            if newest is None or mtime > newest[0]:
                newest = (mtime, path)
    if newest is None:
        return None, False
    return newest[1], newest[0] >= since - 1


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
    path, fresh = find_decision(cfg, started)
    if path is not None and exit_code == 0:
        try:
            result["decision"] = json.loads(path.read_text(encoding="utf-8"))
            result["decision_path"] = str(path)
            result["decision_fresh"] = fresh
        except (OSError, json.JSONDecodeError) as exc:
            result["error"] = f"cannot read the gate decision {path}: {exc}"
        if not fresh:
            result["note"] = (
                "the training DAG's inputs were unchanged, so it re-ran nothing; this is the "
                "previous gate decision (ingest new data first for a real retrain)"
            )
    elif exit_code == 0:
        result["error"] = (
            f"the training DAG finished but no {DECISION_FILE} exists at "
            f"{catalog_decision_path(cfg)}; check that its promote step ran"
        )
    log.info("retrain %s; gate decision: %s", result["status"], result["decision"])
    return result
