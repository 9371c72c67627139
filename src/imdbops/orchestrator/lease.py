"""A lease on a whole DAG run, kept in the artifact store itself, so machines that share
nothing but ``paths.artifacts_url`` take turns at ``imdbops pipeline run``.

The lease of a DAG is a numbered series of objects, ``leases/<dag>/<token>.json``. Taking
it is creating the object numbered one above the highest there, with the store's own atomic
create (S3 ``If-None-Match: *``; a hard link on a local folder): of two machines that try at
once, exactly one creates it, the other sees the store refuse and looks again. The number is
the *fencing token*: tokens only grow, so a holder that stalled past its expiry (a paused
VM, a long GC, a cut network) and was taken over finds an object numbered above its own and
stops before it writes a manifest or a cache record (:meth:`StoreLease.check`).

The holder renews its expiry from a thread every third of ``ttl_s``; a holder that died
stops renewing, and once ``expires_at`` has passed the next machine takes the lease over
(token + 1). Expiry compares wall clocks of two machines: keep them in sync (NTP), and keep
``ttl_s`` well above any skew. A finished run marks its object ``released``, so the next
one starts at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from imdbops.log import get_logger

log = get_logger(__name__)
_TOKEN_DIGITS = 12


class LeaseHeldError(RuntimeError):
    """Another machine holds the DAG's lease; the message names it and what to do."""


class LeaseLostError(RuntimeError):
    """This run's lease was taken over (it stalled past its expiry); it must not write."""


class StoreLease:
    """The lease of one DAG in an :class:`~imdbops.objectstore.ObjectStore` (module doc)."""

    def __init__(
        self,
        objects: Any,
        dag: str,
        *,
        ttl_s: float = 60.0,
        wait_s: float = 0.0,
        setting: str = "paths.artifacts_url",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be > 0 seconds, got {ttl_s}")
        self.objects, self.dag, self.ttl_s, self.wait_s = objects, dag, ttl_s, wait_s
        self.setting, self.clock = setting, clock
        self.prefix = f"leases/{dag}"
        self.token: int | None = None
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: str | None = None

    # ---- keys -----------------------------------------------------------------------------
    def _key(self, token: int) -> str:
        return f"{self.prefix}/{token:0{_TOKEN_DIGITS}d}.json"

    def _tokens(self) -> list[int]:
        path = self.objects.path(self.prefix)
        self.objects.fs.invalidate_cache(path)
        try:
            names = self.objects.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            stem = name.rstrip("/").rsplit("/", 1)[-1]
            if stem.endswith(".json") and stem[:-5].isdigit():
                found.append(int(stem[:-5]))
        return sorted(found)

    def _read(self, token: int) -> dict[str, Any]:
        try:
            return json.loads(self.objects.get_small(self._key(token)))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _body(self, released: bool = False) -> bytes:
        now = self.clock()
        data = {
            "dag": self.dag,
            "token": self.token,
            "holder": self.holder,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "renewed_at": now,
            "expires_at": now + self.ttl_s,
            "released": released,
        }
        return json.dumps(data, sort_keys=True).encode()

    # ---- taking and giving back -------------------------------------------------------------
    def acquire(self) -> int:
        """Take the lease (waiting up to ``wait_s`` for a live holder); returns the token."""
        from imdbops.objectstore import ObjectStoreError, store_errors

        try:
            return self._acquire()
        except (LeaseHeldError, ObjectStoreError):
            raise
        except store_errors() as exc:
            raise ObjectStoreError(
                f"cannot take the run lease in {self.objects.url_for(self.prefix)}: "
                f"{getattr(exc, 'strerror', None) or exc}; check that {self.setting} is reachable (and its "
                "credentials), then run again"
            ) from None

    def _acquire(self) -> int:
        deadline = time.monotonic() + self.wait_s
        said = False
        while True:
            tokens = self._tokens()
            top = tokens[-1] if tokens else 0
            current = self._read(top) if top else {}
            live = bool(current) and not current.get("released")
            live = live and float(current.get("expires_at", 0)) > self.clock()
            if not live:
                self.token = top + 1
                if self.objects.create_only(self._key(self.token), self._body()):
                    if current and not current.get("released"):
                        log.warning(
                            "took over the %s lease from %s, whose lease expired (token %d -> %d)",
                            self.dag, current.get("holder"), top, self.token,
                        )  # fmt: skip
                    self._start_renewing()
                    return self.token
                self.token = None
                continue  # another machine created that token first: look again
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LeaseHeldError(self._held_message(current))
            if not said:
                log.warning("%s; waiting up to %.0f s", self._held_message(current), remaining)
                said = True
            time.sleep(min(remaining, max(0.2, self.ttl_s / 10)))

    def _held_message(self, current: dict[str, Any]) -> str:
        left = max(0.0, float(current.get("expires_at", 0)) - self.clock())
        return (
            f"another run of DAG {self.dag!r} holds its lease in {self.objects.url_for(self.prefix)} "
            f"(holder {current.get('holder')}, token {current.get('token')}, expires in "
            f"{left:.0f} s unless renewed); wait for it to finish, or set "
            "pipeline.lease_wait_s (or pass --wait SECONDS) to queue behind it"
        )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl_s)
        if self.token is None or self._lost:
            return
        with contextlib.suppress(OSError):
            if not self._superseded():
                self.objects.replace_small(self._key(self.token), self._body(released=True))
        self.token = None

    # ---- holding ----------------------------------------------------------------------------
    def _superseded(self) -> bool:
        return self.objects.exists(self._key(self.token + 1))

    def check(self) -> None:
        """Raise :class:`LeaseLostError` if a later holder took the lease (the fence)."""
        if self.token is None:
            return
        if self._lost is None and self._superseded():
            nxt = self._read(self.token + 1)
            self._lost = (
                f"this run lost the lease of DAG {self.dag!r} (token {self.token}) to "
                f"{nxt.get('holder')} (token {self.token + 1}) after it stopped renewing for "
                f"{self.ttl_s:g} s; it stops without writing; resume it with "
                "`imdbops pipeline resume RUN_ID` once the other run ends"
            )
        if self._lost:
            raise LeaseLostError(self._lost)

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._renew_loop, name=f"lease-{self.dag}", daemon=True
        )
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if self._superseded():
                    return  # check() says so at the next write
                self.objects.replace_small(self._key(self.token), self._body())
            except Exception as exc:  # noqa: BLE001 - any store failure: keep trying
                # The store is unreachable: keep trying; if it stays down past the expiry,
                # another machine may take over and check() stops this run.
                log.warning("could not renew the %s lease: %s", self.dag, exc)


@contextlib.contextmanager
def held(lease: StoreLease | None) -> Iterator[StoreLease | None]:
    """Hold ``lease`` (if any) for the ``with`` block."""
    if lease is None:
        yield None
        return
    lease.acquire()
    try:
        yield lease
    finally:
        lease.release()
