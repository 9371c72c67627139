"""Run ``imdbops`` commands as a user would, each in its own process, under the replay's clock.

Every call is timed (wall seconds, and the CPU seconds of its process: a busy machine
stretches the first but hardly the second) and its output kept in
``<replay>/logs/<period>/<step>.log``, so a failed step can be read afterwards; the
command's own JSON output (``--json``) is what the replay records. With ``warm`` each
command runs in a fresh fork of one process that imported the heavy libraries once
(replay/forked.py) instead of the console script.
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


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's waited-for children so far: a
    command's own cost, which a busy machine hardly changes (benchmarks use it too)."""
    times = os.times()
    return times.children_user + times.children_system


@dataclass
class Result:
    step: str
    args: list[str]
    exit_code: int
    seconds: float
    stdout: str
    log: Path
    # User + system CPU of the command's process; None for a warm fork (not our child).
    cpu_seconds: float | None = None

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
    warm: bool = False

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
        started, cpu_before = time.perf_counter(), children_cpu()
        if self.warm:
            exit_code, stdout, stderr = self._forked(list(args), log)
        else:
            exit_code, stdout, stderr = self._process(list(args))
        if exit_code is None:
            raise ReplayStepError(
                f"{period} {step}: `imdbops {' '.join(args)}` did not finish within "
                f"{self.timeout_s:.0f} s"
            )
        seconds = time.perf_counter() - started
        cpu = None if self.warm else round(children_cpu() - cpu_before, 3)
        log.write_text(
            f"$ imdbops {' '.join(args)}\n# exit {exit_code} after {seconds:.2f}s\n"
            f"{stdout}\n--- stderr ---\n{stderr}",
            encoding="utf-8",
        )
        result = Result(step, list(args), exit_code, seconds, stdout, log, cpu)
        if exit_code not in ok:
            tail = (stderr or stdout).strip().splitlines()[-3:]
            raise ReplayStepError(
                f"{period} {step}: `imdbops {' '.join(args)}` exited {exit_code}: "
                f"{' | '.join(tail)} (whole output: {log})"
            )
        return result

    def _process(self, args: list[str]) -> tuple[int | None, str, str]:
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
            return None, "", ""
        return proc.returncode, proc.stdout, proc.stderr

    def _forked(self, args: list[str], log: Path) -> tuple[int | None, str, str]:
        from imdbops.replay import forked

        out, err = log.with_suffix(".stdout"), log.with_suffix(".stderr")
        config = ["--config", str(self.config)] if self.config else []
        code = forked.run(
            config + args, env=self.environ(), cwd=self.root, out=out, err=err,
            timeout_s=self.timeout_s,
        )  # fmt: skip
        texts = []
        for path in (out, err):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
            path.unlink()
        return code, texts[0], texts[1]
