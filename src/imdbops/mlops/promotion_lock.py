"""One promotion at a time: a file lock on one machine, a lease in the tracking server across machines.

A local store (the embedded SQLite default, a ``file:`` store) lives on one machine, so an
exclusive ``flock`` on ``<state_dir>/promote.lock`` serialises promotions exactly as before.

A shared store (an MLflow server, or a SQL database reached directly) is promoted from many
machines that share no disk. There the lock is a row in the server's own database: a
registered model named ``<model>.promotion-lock``. Creating a registered model whose name
exists fails atomically (a primary key in the server's database), so exactly one promoter
creates it; the others poll until it is deleted. The holder renews a lease tag while it
works, so a holder killed with SIGKILL blocks the others for one lease, not forever. This
needs nothing but the tracking URL every task already has: no database credentials and no
extra service on the workers. ``promote_version`` also re-checks the champion alias before
moving it (compare-and-set), which covers a lease broken from under a stalled holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator

from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.tracking import get_client

log = get_logger("mlops.promotion_lock")

LOCK_SUFFIX = ".promotion-lock"
LEASE_S = 60.0  # a dead holder blocks the others for at most this long
RENEW_S = 15.0
WAIT_S = 900.0  # a live promotion (model loads + bootstrap) takes seconds to a minute
_LOCAL_SCHEMES = ("sqlite:", "file:")


class PromotionLockTimeout(TimeoutError):
    """Another promotion held the lock for longer than the wait allows."""


def shared_store(uri: str) -> bool:
    """True when the tracking store can be reached from more than one machine."""
    if uri.startswith("databricks"):
        return True
    return "://" in uri and not uri.startswith(_LOCAL_SCHEMES)


def lock_name(cfg: Config) -> str:
    return cfg.tracking.model_name + LOCK_SUFFIX


@contextlib.contextmanager
def promotion_lock(cfg: Config, *, wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the promotion lock for ``cfg``'s model for the block."""
    if shared_store(cfg.tracking_uri):
        with server_lock(cfg, wait_s=wait_s):
            yield
    else:
        with file_lock(cfg):
            yield


@contextlib.contextmanager
def file_lock(cfg: Config) -> Iterator[None]:
    cfg.paths.state_dir.mkdir(parents=True, exist_ok=True)
    with open(cfg.paths.state_dir / "promote.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _holder(client, name: str) -> tuple[str | None, float | None]:
    """(holder token, lease expiry) of the lock, or (None, None) when nobody holds it."""
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(name).tags or {}
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None, None
        raise
    expires = tags.get("expires_at")
    return tags.get("holder"), float(expires) if expires else None


def _release(client, name: str, token: str) -> None:
    """Delete the lock if ``token`` still holds it (a broken lease may have passed it on)."""
    from mlflow.exceptions import MlflowException

    holder, _ = _holder(client, name)
    if holder != token:
        return
    with contextlib.suppress(MlflowException):  # already deleted by a breaker: nothing to do
        client.delete_registered_model(name)


def _acquire(client, name: str, token: str, lease_s: float, wait_s: float) -> None:
    from mlflow.exceptions import MlflowException

    deadline = time.monotonic() + wait_s
    delay, announced = 0.05, None
    while True:
        try:
            client.create_registered_model(
                name,
                tags={"holder": token, "expires_at": f"{time.time() + lease_s:.3f}"},
                description="imdbops promotion lock: deleted when the promotion ends",
            )
            return
        except MlflowException as exc:
            # ALREADY_EXISTS: someone holds it. DOES_NOT_EXIST: the server lost the race
            # against a concurrent create and looked the row up after its holder released it.
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                raise
        holder, expires = _holder(client, name)
        if holder == token:  # our create landed but its reply was lost and the call retried
            return
        if holder is not None and expires is not None and expires < time.time():
            log.warning("breaking the promotion lock of %s: its lease expired", holder)
            _release(client, name, holder)
            continue
        if time.monotonic() > deadline:
            raise PromotionLockTimeout(
                f"promotion lock {name!r} on the tracking server is held by {holder} for more "
                f"than {wait_s:.0f}s; a dead holder's lease expires within {LEASE_S:.0f}s, so "
                "another promotion is still running: retry when it ends"
            )
        if holder is not None and holder != announced:
            log.info("waiting for the promotion lock held by %s", holder)
            announced = holder
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 1.0)


@contextlib.contextmanager
def server_lock(
    cfg: Config, *, lease_s: float = LEASE_S, renew_s: float = RENEW_S, wait_s: float = WAIT_S
) -> Iterator[None]:
    """The lock as a registered model in the tracking server's database (see module doc)."""
    client = get_client(cfg)
    name = lock_name(cfg)
    lease_s = cfg.tracking.promotion_lock_lease_s if lease_s == LEASE_S else lease_s
    renew_s = min(renew_s, lease_s / 4)  # renewed well before it could lapse
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    _acquire(client, name, token, lease_s, wait_s)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(renew_s):
            try:
                if _holder(client, name)[0] != token:
                    log.warning("the promotion lock was taken over; the alias check still guards")
                    return
                client.set_registered_model_tag(name, "expires_at", f"{time.time() + lease_s:.3f}")
            except Exception as exc:  # a blip must not kill the promotion; the lease has room
                log.warning("could not renew the promotion lock: %s", exc)

    thread = threading.Thread(target=renew, name="promotion-lock-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        try:
            _release(client, name, token)
        except Exception as exc:  # noqa: BLE001 - the server is gone; never hide the real error
            log.warning(
                "could not release the promotion lock %r (%s); it expires %.0fs after its last "
                "renewal, and the next promotion then takes it over", name, exc, lease_s,
            )  # fmt: skip
