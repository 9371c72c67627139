"""A TCP proxy on 127.0.0.1 in front of a real service, to make that service fail on cue.

``forward()`` passes bytes both ways; ``down()`` resets every open connection and every new
one (a stopped server, as a client sees it); ``hang()`` keeps connections open and accepts
new ones but forwards nothing (a paused server, a black-holed network): only the client's
own timeouts end the wait.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading

FORWARD, DOWN, HANG = "forward", "down", "hang"


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = FORWARD
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def forward(self) -> None:
        self.mode = FORWARD

    def hang(self) -> None:
        self.mode = HANG

    def down(self) -> None:
        self.mode = DOWN
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _reset(conn)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.down()

    # ---- internals -----------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == DOWN:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._conns |= {client, server}
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                if self.mode == DOWN:
                    break
                if self.mode == HANG:
                    # Read nothing, send nothing: the peer waits. Not select(): with bytes
                    # pending it returns at once, and a hung link would spin a core.
                    self._closed.wait(0.1)
                    continue
                readable, _, _ = select.select([a, b], [], [], 0.1)
                if self.mode != FORWARD:
                    continue  # the mode changed while waiting: those bytes stay unread
                for src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            return
        finally:
            with self._lock:
                self._conns -= {a, b}
            _reset(a)
            _reset(b)


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a killed server's kernel would answer."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
