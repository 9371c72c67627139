"""The tests' port chooser: below the ephemeral range, never the same port twice."""

from __future__ import annotations

import socket

from support import ports


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable():
    low = ports._ephemeral_low()
    seen = [ports.free_port() for _ in range(50)]
    assert len(set(seen)) == 50
    assert all(ports.FLOOR <= p < low for p in seen)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", seen[-1]))


def test_a_port_in_use_is_skipped(monkeypatch):
    import itertools

    k = 7
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", ports._SLICE[k]))
        taken.listen()
        monkeypatch.setattr(ports, "_NEXT", itertools.count(k))
        assert ports.free_port() == ports._SLICE[k + 1]
    finally:
        taken.close()
