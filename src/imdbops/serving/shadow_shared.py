"""What the serving process and its shadow process share: a small block of memory.

The block (an anonymous ``memfd``, inherited by the child as a file descriptor, so nothing
is left on disk) holds the child's counters as 64-bit integers, which the parent reads
without a system call (``imdbops_shadow_*`` metrics, ``ShadowScorer.stats()``, the drop
check on the request path, ``drain()``), and a JSON status (versions loaded, load errors)
the child rewrites under a sequence number, so a reader never takes half of one.

Also here: how either side puts the shadow process at the lowest CPU priority.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import tempfile
from typing import Any

# int64 slots at the start of the block; the JSON status follows.
SLOTS = (
    "received",  # records the child read from the pipe (a torn line counts as one)
    "done",  # records the child finished (scored by every shadow, or failed)
    "scored",  # rows written to the shadow log (one per record and shadow version)
    "failed",  # rows a shadow could not score (one per record and shadow version)
    "batches",
    "queued",  # records read and waiting in the child
    "seq",  # status sequence: odd while the child rewrites the status
    "status_len",
)
_INDEX = {name: i for i, name in enumerate(SLOTS)}
_STATUS_AT = 256
SIZE = 64 * 1024
_INT = struct.Struct("q")


class SharedBlock:
    """The shared block; ``SharedBlock()`` creates one, ``SharedBlock(fd)`` maps an inherited one."""

    def __init__(self, fd: int | None = None):
        if fd is None:
            if hasattr(os, "memfd_create"):
                fd = os.memfd_create("imdbops-shadow")
            else:  # not Linux: an unlinked temporary file does the same
                fd = os.dup(tempfile.TemporaryFile().fileno())
            os.ftruncate(fd, SIZE)
        self.fd = fd
        self._map = mmap.mmap(fd, SIZE)

    def get(self, name: str) -> int:
        return _INT.unpack_from(self._map, 8 * _INDEX[name])[0]

    def set(self, name: str, value: int) -> None:
        _INT.pack_into(self._map, 8 * _INDEX[name], value)

    def add(self, name: str, n: int) -> None:
        """Only the child adds (the parent sets ``received`` only while no child runs)."""
        self.set(name, self.get(name) + n)

    def counts(self) -> dict[str, int]:
        values = struct.unpack_from(f"{len(SLOTS)}q", self._map, 0)
        return dict(zip(SLOTS, values, strict=True))

    def write_status(self, status: dict[str, Any]) -> None:
        data = json.dumps(status).encode()[: SIZE - _STATUS_AT]
        seq = self.get("seq")
        self.set("seq", seq + 1)  # odd: being rewritten
        self._map[_STATUS_AT : _STATUS_AT + len(data)] = data
        self.set("status_len", len(data))
        self.set("seq", seq + 2)

    def read_status(self) -> dict[str, Any]:
        for _ in range(100):  # the child rewrites it rarely and quickly
            seq = self.get("seq")
            if seq % 2 == 0:
                n = self.get("status_len")
                data = bytes(self._map[_STATUS_AT : _STATUS_AT + n])
                if self.get("seq") == seq:
                    return json.loads(data) if n else {}
            os.sched_yield()
        return {}

    def close(self) -> None:
        self._map.close()
        os.close(self.fd)


def lower_priority(pid: int, priority: str) -> str:
    """Put ``pid`` (0: this process) at ``priority`` ("idle": Linux SCHED_IDLE, which runs
    only when nothing else wants the CPU, else nice 19; "nice": nice 19; "normal": as is).
    Returns what was applied."""
    if priority == "idle" and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
            return "idle"
        except OSError:
            pass
    if priority in ("idle", "nice"):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, 19)
            return "nice"
        except OSError:
            pass
    return "normal"
