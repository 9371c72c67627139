"""Fixtures shared by every test: an isolated project root and its Config."""

from __future__ import annotations

import socket

import pytest

from imdbops.config import Config, load_config


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Config:
    """A Config whose every path lives under a fresh temporary folder."""
    monkeypatch.delenv("IMDBOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    config = load_config(paths={"root": tmp_path})
    config.ensure_dirs()
    return config


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
