"""One run at a time per DAG and cache: two runs writing the same outputs would race.

``flock`` is released by the kernel when the holder dies, so a ``kill -9`` never leaves a
stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


class RunLockedError(OSError):
    pass


@contextlib.contextmanager
def run_lock(path: Path, wait_s: float = 0.0) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    raise RunLockedError(
                        f"another run of this DAG is in progress (pid {holder}, lock {path}); "
                        "wait for it to finish, or stop it and `imdbops pipeline resume` it"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
