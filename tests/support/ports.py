"""Free TCP ports for the servers the tests start: one place, and no collisions.

Asking the kernel for port 0 returns an *ephemeral* port, the same range every outgoing
connection takes its local port from; between closing that probe and the server binding it,
any client connection on the machine (thousands under the load tests) can take it, and the
server dies with "address already in use". So ports come from below the ephemeral range,
where no outgoing connection lands, from a slice of its own for each xdist worker, and each
process hands a port out only once.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading
from pathlib import Path

FLOOR = 10_000  # above the well-known and registered services most machines run


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _slice() -> range:
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    worker = int((os.environ.get("PYTEST_XDIST_WORKER") or "gw0").removeprefix("gw") or 0)
    span = max(100, (_ephemeral_low() - FLOOR) // workers)
    start = FLOOR + (worker % workers) * span
    return range(start, start + span)


_SLICE = _slice()
_NEXT = itertools.count(random.randrange(len(_SLICE)))
_LOCK = threading.Lock()


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on, never handed out before by this process."""
    for _ in range(len(_SLICE)):
        with _LOCK:
            port = _SLICE[next(_NEXT) % len(_SLICE)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (or lingering): try the next one
            return port
    raise RuntimeError(f"no free port in {_SLICE.start}-{_SLICE.stop - 1}")
