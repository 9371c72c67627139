"""A throwaway PostgreSQL server for tests: Debian's server, started with initdb + pg_ctl.

Use ``postgres_server()`` as a context manager from a fixture of whatever scope the tests
need (one server per module is the cheap choice: initdb costs a few seconds)::

    @pytest.fixture(scope="module")
    def pg():
        with postgres_server(user="mlflow", password="secret", db="mlflow") as server:
            yield server          # server.port, server.url("postgresql+psycopg")

A missing server fails the test in CI and when ``required`` (the caller asked for the real
stack), and skips otherwise (tests/ci_guard.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ci_guard import skip_unless_ci


def pg_bin() -> Path:
    """The newest PostgreSQL server on Debian/Ubuntu's versioned layout."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str
    password: str
    db: str
    socket_dir: Path

    def url(self, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.db}"


def _run(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, f"{' '.join(argv)}:\n{out.stdout}\n{out.stderr}"


@contextlib.contextmanager
def postgres_server(
    *, user: str = "imdbops", password: str = "pg-test", db: str = "imdbops", required: bool = False
) -> Iterator[PostgresServer]:
    """Start a private cluster on 127.0.0.1 (scram password auth), stop and delete it after."""
    binary = pg_bin()
    if not (binary / "initdb").exists():
        reason = f"no PostgreSQL server at {binary}: apt-get install postgresql"
        if required:
            pytest.fail(reason)
        skip_unless_ci(reason)
    # Outside pytest's tmp folder: that one is private to root, and PostgreSQL refuses to
    # run as root, so the cluster belongs to the postgres user.
    folder = Path(tempfile.mkdtemp(prefix="imdbops-pg-"))
    (folder / "pw").write_text(password)
    as_user: list[str] = []
    if os.geteuid() == 0:
        for path in (folder, folder / "pw"):
            shutil.chown(path, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = str(folder / "data")
    port = free_port()
    try:
        _run(
            [*as_user, str(binary / "initdb"), "-D", data, "-U", user, "--pwfile"]
            + [str(folder / "pw"), "--auth-host=scram-sha-256", "--auth-local=trust"]
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(
            [*as_user, str(binary / "pg_ctl"), "-D", data, "-o", options, "-l"]
            + [str(folder / "log"), "-w", "start"]
        )
        _run(
            [*as_user, str(binary / "createdb"), "-h", str(folder), "-p", str(port), "-U", user, db]
        )
        yield PostgresServer(port, user, password, db, folder)
    finally:
        subprocess.run(
            [*as_user, str(binary / "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)
