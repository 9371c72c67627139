"""Run ``imdbops`` commands as a user would, each in its own process, under the replay's clock.

Every call is timed and its output kept in ``<replay>/logs/<period>/<step>.log``, so a
failed step can be read afterwards; the command's own JSON output (``--json``) is what the
replay records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imdbops.clock import ENV as CLOCK_ENV


class ReplayStepError(RuntimeError):
    """A command the replay needs failed; the message names it and its log."""


def imdbops_command() -> list[str]:
    """The ``imdbops`` console script of this environment (or the module, if not installed)."""
    script = Path(sys.executable).with_name("imdbops")
    return [str(script)] if script.exists() else [sys.executable, "-m", "imdbops.entry"]


@dataclass
class Result:
    step: str
    args: list[str]
    exit_code: int
    seconds: float
    stdout: str
    log: Path

    def json(self) -> Any:
        """The JSON document the command printed last (``--json``), or None."""
        return last_json(self.stdout)


def last_json(text: str) -> Any:
    """The last top-level JSON value in ``text``: a line starting with ``{`` or ``[`` that
    parses through to the end (log lines may come before it)."""
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i][:1] in "{[":
            try:
                return json.loads("\n".join(lines[i:]))
            except ValueError:
                continue
    return None


@dataclass
class Commands:
    """Runs ``imdbops ARGS`` in the project folder with the replay's environment."""

    root: Path
    clock_file: Path
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    config: Path | None = None
    timeout_s: float = 3600.0

    def environ(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.env,
            CLOCK_ENV: f"@{self.clock_file}",
            "PYTHONUNBUFFERED": "1",
        }

    def base(self) -> list[str]:
        return imdbops_command() + (["--config", str(self.config)] if self.config else [])

    def run(self, period: str, step: str, *args: str, ok: tuple[int, ...] = (0,)) -> Result:
        """Run one command; raise ReplayStepError unless its exit code is in ``ok``."""
        log = self.logs / period / f"{step}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [*self.base(), *args],
                cwd=self.root,
                env=self.environ(),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ReplayStepError(
                f"{period} {step}: `imdbops {' '.join(args)}` did not finish within "
                f"{self.timeout_s:.0f} s"
            ) from None
        seconds = time.perf_counter() - started
        log.write_text(
            f"$ imdbops {' '.join(args)}\n# exit {proc.returncode} after {seconds:.2f}s\n"
            f"{proc.stdout}\n--- stderr ---\n{proc.stderr}",
            encoding="utf-8",
        )
        result = Result(step, list(args), proc.returncode, seconds, proc.stdout, log)
        if proc.returncode not in ok:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ReplayStepError(
                f"{period} {step}: `imdbops {' '.join(args)}` exited {proc.returncode}: "
                f"{' | '.join(tail)} (whole output: {log})"
            )
        return result
