"""Helpers for the step-contract tests: a tiny real project and its runs."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imdbops.config import Config, load_config
from support.ports import free_port

ROWS = 400


def tiny_settings() -> dict[str, Any]:
    from imdbops.dataops.extract import build_query

    # The extract limit lives in the query, so the warehouse.* keys can change one at a time
    # (table-driven test) without changing the data.
    query = build_query(load_config(warehouse={"max_rows": ROWS}))
    return {
        "warehouse": {"extract_query": query},
        "training": {
            "model": "logreg",
            "n_trials": 1,
            "timeout_s": 60,
            "bootstrap_samples": 50,
            "min_margin_over_baseline": -1.0,  # the first champion is always promoted
        },
    }


@dataclass
class Project:
    root: Path
    config_file: Path

    def config(self, **overrides: Any) -> Config:
        return load_config(self.config_file, **overrides)

    def run(self, force: tuple[str, ...] = (), **overrides: Any):
        """One `pipeline run` (the CLI's own runner), in process; returns the RunResult."""
        from imdbops.cli.pipeline import _runner

        cfg = self.config(**overrides)
        cfg.ensure_dirs()
        _, runner, progress = _runner(cfg, workers=2, live=False)
        with progress:
            return runner.run(force=force)


def ran(result) -> set[str]:
    return {n for n, info in result.tasks.items() if info.get("decision") == "ran"}


class MotoServer:
    """A moto S3 server in its own process on 127.0.0.1 (its own state: two servers hold
    different objects, unlike two threaded servers in one process)."""

    def __init__(self, log: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1"]
                + ["-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log_text = log.read_text()[-2000:]
                    raise RuntimeError(f"moto_server did not start: {log_text}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
