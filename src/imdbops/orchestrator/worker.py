"""Run one task function in a child process, so a timeout can really stop it.

Parent side: :func:`run_in_subprocess`. Child side: ``python -m imdbops.orchestrator.worker
PAYLOAD RESULT``. The child dies with its parent (``PR_SET_PDEATHSIG``), so a ``kill -9`` of
the runner leaves no orphan still writing outputs behind it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


class TaskTimeoutError(TimeoutError):
    pass


class TaskFailedError(RuntimeError):
    """A task raised in its child process; carries the child's traceback text."""

    def __init__(self, message: str, child_traceback: str) -> None:
        super().__init__(message)
        self.child_traceback = child_traceback


def function_ref(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def resolve(ref: str) -> Callable[..., Any]:
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    # A module-level name decorated with ``@task`` is a Task; run its function.
    return getattr(obj, "fn", obj)


def run_in_subprocess(
    task_name: str, fn: Callable[..., Any], kwargs: dict[str, Any], timeout_s: float | None
) -> Any:
    if "<locals>" in fn.__qualname__ or fn.__name__ == "<lambda>":
        raise ValueError(
            f"task {task_name!r} runs in a subprocess (it has a timeout) so its function must be "
            "defined at module level; move it out of the enclosing function"
        )
    with tempfile.TemporaryDirectory(prefix="imdbops-task-") as tmp:
        payload, result = Path(tmp, "payload.pkl"), Path(tmp, "result.pkl")
        payload.write_bytes(
            pickle.dumps(
                {"sys_path": sys.path, "ref": function_ref(fn), "kwargs": pickle.dumps(kwargs)}
            )
        )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env["IMDBOPS_WORKER_PARENT"] = str(os.getpid())
        proc = subprocess.Popen(
            [sys.executable, "-m", "imdbops.orchestrator.worker", str(payload), str(result)],
            env=env,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TaskTimeoutError(
                f"task {task_name!r} exceeded its timeout of {timeout_s:g}s and was killed; "
                "raise the task's timeout_s or make the task faster"
            ) from None
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        if not result.exists():
            raise TaskFailedError(
                f"task {task_name!r}: its process exited with code {code} without a result "
                "(killed or crashed)",
                "",
            )
        outcome = pickle.loads(result.read_bytes())
        if not outcome["ok"]:
            raise TaskFailedError(outcome["error"], outcome["traceback"])
        return outcome["result"]


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = os.environ.get("IMDBOPS_WORKER_PARENT")
    if parent and os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(137)


def main(payload_path: str, result_path: str) -> int:
    _die_with_parent()
    from imdbops.atomic import atomic_path

    outer = pickle.loads(Path(payload_path).read_bytes())
    sys.path[:] = outer["sys_path"]
    try:
        fn = resolve(outer["ref"])
        value = fn(**pickle.loads(outer["kwargs"]))
        try:
            pickle.dumps(value)
        except Exception:  # an unpicklable return value is recorded by its repr only
            value = repr(value)
        outcome = {"ok": True, "result": value}
    except BaseException as exc:
        outcome = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    with atomic_path(result_path) as tmp:
        tmp.write_bytes(pickle.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
