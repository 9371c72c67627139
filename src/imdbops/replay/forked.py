"""Run ``imdbops`` commands in fresh forks of one warm process (``imdbops replay --warm``).

A command's own work in a short replay takes well under a second; starting it takes
seconds (Python, then MLflow, scikit-learn, dbt, Evidently imported again by every
command). A warm replay starts one helper process (Python's ``forkserver``) that imports
the CLI and those libraries once; each command then runs in a *new* process forked from it:
its own pid, environment, working folder, stdout and stderr files, exit code and atexit
handlers, the same ``imdbops`` code on the same argv as the console script. What it leaves
out is only the import time, so its step durations are the commands' work, not what a user
waits for; the benchmark (benchmarks/replay.py) runs the console script as a user does.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

# Imported once by the helper process; any that is missing is skipped (forkserver's rule).
PRELOAD = [
    "imdbops.cli",
    "pandas",
    "pyarrow.parquet",
    "duckdb",
    "sklearn.linear_model",
    "mlflow",
    "mlflow.pyfunc",
    "optuna",
    "dbt.cli.main",
    "evidently",
    "evidently.presets",
]
_CONTEXT: multiprocessing.context.ForkServerContext | None = None


def _context() -> multiprocessing.context.ForkServerContext:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


def _child(args: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    """In the forked process: become the command (environment, folder, output), run it."""
    import atexit

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = ["imdbops", *args]
    code: int | str | None = 0
    try:
        _console_script()()
    except SystemExit as exc:
        code = exc.code
    finally:
        atexit._run_exitfuncs()  # a multiprocessing child skips them otherwise
        sys.stdout.flush()
        sys.stderr.flush()
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.exit(code or 0)


def _console_script():
    """What the ``imdbops`` console script calls (its entry point, as installed)."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="imdbops")
    return script.load()


def run(
    args: list[str], *, env: dict[str, str], cwd: Path, out: Path, err: Path, timeout_s: float
) -> int | None:
    """Run ``imdbops ARGS`` in a fresh fork; its exit code, or None after ``timeout_s``."""
    proc = _context().Process(
        target=_child, args=(list(args), dict(env), str(cwd), str(out), str(err))
    )
    proc.start()
    proc.join(timeout_s)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        return None
    return proc.exitcode
