"""Shared helpers of the reliability suite: small configs, the CLI, a real server process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

IMDBOPS = str(Path(sys.executable).parent / "imdbops")


def write_config(root: Path, extra: str = "") -> Path:
    """A small, fast config for whole-pipeline runs in a fresh project root."""
    path = root / "imdbops.yaml"
    path.write_text(
        f"paths:\n  root: {root}\n"
        "training:\n  model: logreg\n  n_trials: 2\n  timeout_s: 30\n  bootstrap_samples: 200\n"
        "serving:\n  reload_poll_s: 3600\n"
        "monitoring:\n  flush_interval_s: 0.2\n" + extra
    )
    return path


def cli(args: list[str], config: Path, env: dict | None = None, timeout: float = 600):
    full_env = {**os.environ, "IMDBOPS_CONFIG": str(config), **(env or {})}
    full_env.pop("IMDBOPS_FAILPOINTS", None) if "IMDBOPS_FAILPOINTS" not in (env or {}) else None
    return subprocess.run(
        [IMDBOPS, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=config.parent,
    )


class ServerProcess:
    """``imdbops serve`` as a real separate process on 127.0.0.1."""

    def __init__(self, config: Path, port: int, env: dict | None = None):
        self.config, self.port = config, port
        self.env = {**os.environ, "IMDBOPS_CONFIG": str(config), **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log = config.parent / f"serve-{port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> ServerProcess:
        import httpx

        out = open(self.log, "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [IMDBOPS, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.config.parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/api/v1/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)  # a clean stop: the log must flush
        return self.proc.wait(timeout=60)


def count_logged_predictions(log_dir: Path) -> int:
    import duckdb

    files = list(log_dir.rglob("*.parquet"))
    if not files:
        return 0
    con = duckdb.connect()
    return con.execute(
        f"select count(*) from read_parquet('{log_dir}/**/*.parquet', hive_partitioning=true)"
    ).fetchone()[0]
