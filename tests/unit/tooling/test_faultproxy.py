"""The test fault proxy: bytes pass, wait while hung (and arrive once forwarded), reset when down."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
from support.faultproxy import FaultProxy


@pytest.fixture
def echo():
    """A TCP echo server on 127.0.0.1; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # down() resets this side too
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def proxy(echo):
    proxy = FaultProxy(echo)
    yield proxy
    proxy.close()


def _client(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    sock.settimeout(5)
    return sock


def test_forward_hang_then_forward_delivers_the_held_bytes(proxy):
    with _client(proxy) as sock:
        sock.sendall(b"one")
        assert sock.recv(16) == b"one"
        proxy.hang()
        sock.sendall(b"two")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):  # a hung peer answers nothing
            sock.recv(16)
        proxy.forward()
        sock.settimeout(5)
        assert sock.recv(16) == b"two"  # held, not lost: it flows once forwarded


def test_down_resets_open_and_new_connections(proxy):
    with _client(proxy) as sock:
        sock.sendall(b"x")
        assert sock.recv(16) == b"x"
        proxy.down()
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            sock.sendall(b"y")
            sock.recv(16)  # the reset shows on the send or the read
    with pytest.raises((ConnectionResetError, BrokenPipeError)), _client(proxy) as sock:
        sock.sendall(b"z")  # the reset may already show on connect
        sock.recv(16)
