"""Named fault-injection points for the reliability suite.

``IMDBOPS_FAILPOINTS="load.lake_put:kill,register.after_log:raise"`` makes the named point
SIGKILL its own process (``kill``), or raise ``InjectedFault`` (``raise``), or ``pause``:
write ``<IMDBOPS_FAILPOINTS_DIR>/<name>.hit`` and wait (at most 10 minutes) until
``<name>.go`` appears there, so a test can stop, restart or hang a *service* at exactly that
moment and then let the process go on. Unset (the normal case) a failpoint costs one dict
lookup. This lets a test kill the pipeline in the
middle of a specific write, deterministically, instead of racing a timer against it.
"""

from __future__ import annotations

import os
import signal

ENV = "IMDBOPS_FAILPOINTS"
DIR_ENV = "IMDBOPS_FAILPOINTS_DIR"
PAUSE_LIMIT_S = 600.0


class InjectedFault(RuntimeError):
    pass


def _active() -> dict[str, str]:
    spec = os.environ.get(ENV, "")
    points = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, action = item.partition(":")
        points[name] = action or "raise"
    return points


def failpoint(name: str) -> None:
    """Trigger the fault configured for ``name``, if any."""
    if ENV not in os.environ:
        return
    action = _active().get(name)
    if action is None:
        return
    if action == "pause":
        _pause(name)
        return
    if action == "kill":
        # Inside an orchestrator worker child the "pipeline" is the parent runner: kill -9
        # it first, as an operator's kill -9 of the pipeline would (the child then dies too).
        parent = os.environ.get("IMDBOPS_WORKER_PARENT")
        if parent and parent.isdigit() and int(parent) != os.getpid():
            try:
                os.kill(int(parent), signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"injected fault at {name}")


def _pause(name: str) -> None:
    import time
    from pathlib import Path

    folder = Path(os.environ.get(DIR_ENV) or ".")
    (folder / f"{name}.hit").write_text(str(os.getpid()))
    deadline = time.monotonic() + PAUSE_LIMIT_S
    while not (folder / f"{name}.go").exists():
        if time.monotonic() > deadline:
            raise InjectedFault(f"failpoint {name} paused {PAUSE_LIMIT_S:g} s with no go")
        time.sleep(0.05)
