"""A throwaway PostgreSQL server for tests: initdb + pg_ctl into a temporary folder.

Debian's server binaries (``.ci/run`` installs them), a random loopback port, password
authentication over TCP, ``fsync=off``. ``postgres_server`` is one server per test session
(per xdist worker); ``PgServer.create_database`` gives each test its own database.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.ci_guard import skip_unless_ci
from support.ports import free_port


def pg_bin() -> Path:
    """The newest PostgreSQL server on Debian/Ubuntu's versioned layout."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = pg_bin()


def _run(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, f"{' '.join(argv)}:\n{out.stdout}\n{out.stderr}"


@dataclass
class PgServer:
    folder: Path  # holds the socket, the log and data/
    port: int
    user: str  # the superuser initdb created
    password: str
    as_user: list[str]  # ["runuser", "-u", "postgres", "--"] when running as root
    host: str = "127.0.0.1"

    def psql(self, sql: str, database: str = "postgres", user: str | None = None) -> str:
        """Run SQL as ``user`` (default: the superuser) over the Unix socket (trusted)."""
        out = subprocess.run(
            [*self.as_user, str(_psql_bin()), "-X", "-q", "-At",
             "-v", "ON_ERROR_STOP=1", "-h", str(self.folder), "-p", str(self.port),
             "-U", user or self.user, "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0, f"psql {sql!r}:\n{out.stderr}"
        return out.stdout

    def restart(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: every session is cut, open transactions roll back;
        ``immediate``: as a crash) and start it again with the same options and port."""
        _run(
            [*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-m", mode]
            + ["-l", str(self.folder / "log"), "-w", "restart"]
        )

    def create_role(self, name: str, password: str) -> None:
        self.psql(f"create role {name} login password '{password}'")

    def create_database(self, name: str, owner: str | None = None) -> str:
        self.psql(f"create database {name} owner {owner or self.user}")
        return name


def _psql_bin() -> Path:
    own = PG_BIN / "psql"
    return own if own.exists() else Path(shutil.which("psql") or "/usr/bin/psql")


@contextlib.contextmanager
def running_postgres(
    user: str, password: str, databases: tuple[str, ...] = ()
) -> Iterator[PgServer]:
    """Start a fresh cluster whose superuser is ``user`` (password auth over TCP)."""
    if not (PG_BIN / "initdb").exists():
        skip_unless_ci(f"no PostgreSQL server at {PG_BIN}: apt-get install postgresql")
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
            [*as_user, str(PG_BIN / "initdb"), "-D", data, "-U", user, "--pwfile"]
            + [str(folder / "pw"), "--auth-host=scram-sha-256", "--auth-local=trust"]
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(
            [*as_user, str(PG_BIN / "pg_ctl"), "-D", data, "-o", options, "-l"]
            + [str(folder / "log"), "-w", "start"]
        )
        server = PgServer(folder, port, user, password, as_user)
        for name in databases:
            server.create_database(name)
        yield server
    finally:
        subprocess.run(
            [*as_user, str(PG_BIN / "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


# The warehouse tests' server: superuser "pgadmin"; imdbops connects as its own login role.
WAREHOUSE_USER, WAREHOUSE_PASSWORD = "imdbops", "wh-test-secret"
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole test session (per xdist worker)."""
    with running_postgres("pgadmin", "pgadmin-test-secret") as server:
        server.create_role(WAREHOUSE_USER, WAREHOUSE_PASSWORD)
        yield server


def fresh_database(server: PgServer) -> str:
    """A new empty database owned by the warehouse role, for one test."""
    return server.create_database(f"wh_{os.getpid()}_{next(_databases)}", WAREHOUSE_USER)
