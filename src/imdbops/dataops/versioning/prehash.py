"""Hash big input files while the CLI is still starting up.

``imdbops data add BIG`` spends ~0.4 s importing typer, pydantic and the config before it
can read a byte. ``entry.main`` calls ``start`` first, which forks one child per large file
to hash it; ``hashing.md5_file``/``md5_copy`` later ``take`` the result instead of reading
the file again. A process, not a thread: the imports hold the GIL, and a thread hashing in
L2-sized chunks (md5's fastest) would queue for it after every chunk, overlapping nothing.

A result is used only if the file's inode, size and timestamps are the same when it is
taken (and, in ``md5_copy``, after the copy); otherwise the file is hashed again. A child
whose parent has gone stops at its next progress report (the pipe breaks).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

from imdbops.dataops.versioning.filehash import hash_path, identity

MIN_BYTES = 32 * 1024 * 1024  # below this the hash is shorter than start-up anyway
REPORT_BYTES = 16 * 1024 * 1024

Progress = Callable[[int], None]


class Pending:
    """A file being hashed by a forked child; ``wait`` hands over ``(md5, size)`` or None."""

    def __init__(self, path: str, identity: tuple[int, int, int, int]):
        self.path, self.identity = path, identity
        read_fd, write_fd = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(read_fd)
            _child(path, write_fd)  # never returns
        os.close(write_fd)
        self._pipe = os.fdopen(read_fd, "rb")
        self._result: tuple[str, int] | None = None

    def wait(self, progress: Progress | None) -> tuple[str, int] | None:
        """Block until the child is done; forward its progress. None if it failed."""
        if self._pipe.closed:
            return self._result
        with self._pipe:
            for line in self._pipe:
                kind, _, rest = line.decode().strip().partition(" ")
                if kind == "+" and progress is not None:
                    progress(int(rest))
                elif kind == "=":
                    md5, size = rest.split()
                    self._result = (md5, int(size))
        self.reap()
        return self._result

    def reap(self, kill: bool = False) -> None:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            if kill:
                os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)


def _child(path: str, fd: int) -> None:
    code = 1
    try:
        out = os.fdopen(fd, "wb", buffering=0)
        unreported = 0

        def report(n: int) -> None:
            nonlocal unreported
            unreported += n
            if unreported >= REPORT_BYTES:
                out.write(f"+ {unreported}\n".encode())
                unreported = 0

        md5, size = hash_path(path, report)
        out.write(f"+ {unreported}\n= {md5} {size}\n".encode())
        code = 0
    except BaseException:  # a broken pipe, Ctrl-C, an I/O error: the parent re-hashes
        pass
    finally:
        os._exit(code)  # never fall back into the CLI that forked us


_PENDING: dict[str, Pending] = {}


def start(paths: list[str]) -> None:
    """Fork a hashing child for each large regular file in ``paths`` (POSIX only)."""
    if not hasattr(os, "fork"):
        return
    for path in paths:
        real = os.path.realpath(path)
        if real in _PENDING or not os.path.isfile(real):
            continue
        ident = identity(real)
        if ident[1] >= MIN_BYTES:
            _PENDING[real] = Pending(real, ident)


def take(path: str | Path) -> Pending | None:
    """The prehash of ``path`` if one was started and the file is unchanged since."""
    if not _PENDING:
        return None
    pending = _PENDING.pop(os.path.realpath(path), None)
    if pending is None:
        return None
    try:
        unchanged = identity(path) == pending.identity
    except OSError:
        unchanged = False
    if not unchanged:
        pending.reap(kill=True)
        return None
    return pending


@atexit.register
def _stop_unused() -> None:
    while _PENDING:
        _PENDING.popitem()[1].reap(kill=True)
