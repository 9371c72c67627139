"""A folder-like view of a local folder or an object store (``s3://``, ``gs://``) behind fsspec:
the data lake, the DVC remote and the pipeline's artifact store all go through it.

Every write lands under a temporary key (``<key>.tmp-<writer>-<uuid>``) and is moved into
place only when complete, so a reader or a crash never meets a half-written object.
Credentials come from the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS);
``storage_options`` carries only non-secret settings such as ``endpoint_url``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from imdbops.atomic import atomic_path
from imdbops.failpoints import failpoint
from imdbops.log import get_logger

CHUNK_SIZE = 4 * 1024 * 1024
log = get_logger(__name__)


class ObjectStoreError(OSError):
    """A read or write failed; the message names the URL and what to check."""


def store_errors() -> tuple[type[BaseException], ...]:
    """What a failed request raises: OSError, and botocore's own errors (a refused or reset
    connection is ``EndpointConnectionError``, which is not an OSError)."""
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:
        return (OSError,)
    return (OSError, BotoCoreError)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _copy_chunks(
    src: IO[bytes],
    dst: IO[bytes],
    progress: Callable[[int], None] | None = None,
    point: str | None = None,
) -> None:
    first = point is not None
    while chunk := src.read(CHUNK_SIZE):
        dst.write(chunk)
        if first:
            # A crash injected here leaves a partly written temporary object behind.
            failpoint(point)
            first = False
        if progress is not None:
            progress(len(chunk))


class _HashingReader:
    """Wraps a binary file; md5s everything read through it."""

    def __init__(self, raw: IO[bytes]):
        import hashlib

        self._raw, self._md5 = raw, hashlib.md5()

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._md5.update(data)
        return data

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


class ObjectStore:
    """A folder-like view of ``url``; keys are POSIX paths relative to it.

    ``setting``: the configuration key that names ``url``, for error messages.
    """

    def __init__(
        self, url: str, storage_options: dict[str, Any] | None = None, setting: str = "lake.url"
    ):
        from fsspec.core import split_protocol, url_to_fs

        from imdbops.timeouts import drop_expect_continue, with_s3_timeouts

        self.url, self.setting = url.rstrip("/"), setting
        protocol = split_protocol(self.url)[0] or "file"
        options = with_s3_timeouts((protocol,), storage_options or {})
        try:
            self.fs, self.root = url_to_fs(self.url, **options)
            if protocol in ("s3", "s3a"):
                # botocore retries (config_kwargs.retries); s3fs's own loop of 5 more on
                # top would multiply a hung store's wait by five.
                self.fs.retries = 1
                drop_expect_continue(self.fs)
            # fsspec shares instances (and their listing caches) per process; drop listings
            # so objects another process wrote since (e.g. a stock `dvc push`) are seen.
            self.fs.invalidate_cache()
        except (ImportError, ValueError) as exc:
            raise ObjectStoreError(
                f"cannot open {self.url}: {exc}; check {setting} and its storage_options"
            ) from None
        self.root = self.root.rstrip("/")
        self.is_local = "file" in _protocols(self.fs)

    def path(self, key: str) -> str:
        return f"{self.root}/{key.lstrip('/')}" if key else self.root

    def url_for(self, key: str) -> str:
        return f"{self.url}/{key.lstrip('/')}" if key else self.url

    def exists(self, key: str) -> bool:
        try:
            return self.fs.exists(self.path(key))
        except store_errors() as exc:
            raise ObjectStoreError(
                f"cannot reach {self.url_for(key)}: {exc}; check {self.setting}"
            ) from None

    def size(self, key: str) -> int:
        return int(self.fs.size(self.path(key)))

    def open_read(self, key: str) -> IO[bytes]:
        try:
            return self.fs.open(self.path(key), "rb")
        except FileNotFoundError:
            raise
        except store_errors() as exc:
            raise ObjectStoreError(f"cannot read {self.url_for(key)}: {exc}") from None

    def read_bytes(self, key: str) -> bytes:
        with self.open_read(key) as fh:
            return fh.read()

    def put_file(
        self,
        local: str | Path,
        key: str,
        progress: Callable[[int], None] | None = None,
        expect_md5: str | None = None,
        point: str = "load.lake_put",
    ) -> str:
        """Upload ``local`` to ``key`` atomically; returns the object's URL.

        With ``expect_md5`` the bytes are hashed as they stream and the upload is abandoned
        (temp removed, ``ValueError``) unless they match, so a damaged source never lands.
        """
        with open(local, "rb") as raw:
            src = _HashingReader(raw) if expect_md5 else raw

            def write(dst: IO[bytes]) -> None:
                _copy_chunks(src, dst, progress, point)
                if expect_md5 and src.hexdigest() != expect_md5:
                    raise ValueError(
                        f"{local} hashes to {src.hexdigest()}, not {expect_md5}: the local "
                        f"copy is damaged, so it was not uploaded to {self.url_for(key)}"
                    )

            return self._put(key, write)

    def put_bytes(self, key: str, data: bytes) -> str:
        return self._put(key, lambda dst: dst.write(data))

    def _put(self, key: str, write: Callable[[IO[bytes]], Any]) -> str:
        final = self.path(key)
        # The writer's host and pid in the name let a later run tell a dead writer's leftover
        # (safe to delete now) from a live upload (never touched).
        tmp = f"{final}.tmp-{_WRITER}-{uuid.uuid4().hex}"
        try:
            if self.is_local:
                self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            with self.fs.open(tmp, "wb") as dst:
                write(dst)
            self.fs.mv(tmp, final)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
            if isinstance(exc, store_errors()) and not isinstance(exc, ObjectStoreError):
                reason = _reason(exc)
                raise ObjectStoreError(
                    f"cannot write {self.url_for(key)}: {reason}; check that {self.setting} is "
                    "writable, has free space, and (object stores) that credentials are set "
                    "in the environment"
                ) from None
            raise
        log.debug("wrote %s", self.url_for(key))
        return self.url_for(key)

    @property
    def whole_put(self) -> bool:
        """True where one PUT is all-or-nothing (S3, GCS): no temp object is needed."""
        return bool(set(_protocols(self.fs)) & {"s3", "s3a", "gs", "gcs"})

    def get_small(self, key: str) -> bytes:
        """A small object in one GET (``open`` would HEAD first, and fail if the object is
        replaced between the two); FileNotFoundError if absent."""
        try:
            return self.fs.cat_file(self.path(key))
        except FileNotFoundError:
            raise
        except store_errors() as exc:
            raise ObjectStoreError(f"cannot read {self.url_for(key)}: {exc}") from None

    def replace_small(self, key: str, data: bytes) -> None:
        """Write a small object whole: one PUT where that is atomic, else temp + move."""
        if not self.whole_put:
            self.put_bytes(key, data)
            return
        try:
            self.fs.pipe_file(self.path(key), data)
        except store_errors() as exc:
            raise ObjectStoreError(f"cannot write {self.url_for(key)}: {exc}") from None

    def create_only(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if no object has that name (the store's atomic create: S3
        ``If-None-Match: *``, a hard link on a local folder). True if this call created it,
        False if it was already there (another writer won)."""
        final = self.path(key)
        try:
            if self.is_local:
                return _link_create(final, data)
            self.fs.pipe_file(final, data, mode="create")
        except FileExistsError:
            return False
        except store_errors() as exc:
            if "precondition" in str(exc).lower():
                return False  # S3 412: someone created it first
            raise ObjectStoreError(
                f"cannot create {self.url_for(key)}: {exc}; check that {self.setting} is "
                "reachable and writable"
            ) from None
        except NotImplementedError:
            raise ObjectStoreError(
                f"{self.url} does not offer an atomic create-if-absent write, which the run "
                "lease needs; use S3 (or an S3-compatible store) or a local folder"
            ) from None
        return True

    def sweep_stale_tmp(
        self, prefix: str, older_than_s: float = 3600.0, *, own: bool = False
    ) -> list[str]:
        """Delete ``*.tmp-*`` leftovers of writers that died (SIGKILL, power loss).

        A temp goes when its writer (named in it) is a process of this host that no longer
        exists, or when it is older than ``older_than_s`` (writers on other hosts); a live
        writer's upload is never touched. ``own``: this process's temps go too, for a
        caller with no upload in flight (an upload that timed out against a hung store can
        still land later, under its temp name, and nobody else would remove it).
        """
        import time

        base = self.path(prefix)
        try:
            found = self.fs.find(base) if self.fs.exists(base) else []
        except store_errors():
            return []
        removed = []
        for path in found:
            if ".tmp-" not in path.rsplit("/", 1)[-1]:
                continue
            with contextlib.suppress(OSError, NotImplementedError):
                name = path.rsplit("/", 1)[-1]
                dead = _writer_is_dead(name) or (own and f".tmp-{_WRITER}-" in name)
                if dead or time.time() - self.fs.modified(path).timestamp() >= older_than_s:
                    self.fs.rm(path)
                    removed.append(path)
        if removed:
            log.info("removed %d stale temp object(s) under %s", len(removed), prefix)
        return removed

    def get_file(
        self, key: str, local: str | Path, progress: Callable[[int], None] | None = None
    ) -> Path:
        """Download ``key`` to ``local`` atomically (a failed download leaves no file)."""
        try:
            with atomic_path(local) as tmp, self.open_read(key) as src, open(tmp, "wb") as dst:
                _copy_chunks(src, dst, progress)
        except (FileNotFoundError, ObjectStoreError):
            raise
        except store_errors() as exc:  # the store went away mid-download (reset, read timeout)
            reason = _reason(exc)
            raise ObjectStoreError(
                f"cannot read {self.url_for(key)}: {reason}; check that {self.setting} is "
                "reachable, then run the command again"
            ) from None
        return Path(local)


_HOST = socket.gethostname().replace("-", "_")
_WRITER = f"{_HOST}-{os.getpid()}"


def _link_create(final: str, data: bytes) -> bool:
    """A whole file at ``final`` unless one exists: written aside, then hard-linked (which
    fails if the name is taken), so a reader never sees it half written."""
    os.makedirs(os.path.dirname(final), exist_ok=True)
    tmp = f"{final}.tmp-{_WRITER}-{uuid.uuid4().hex}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    try:
        os.link(tmp, final)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _writer_is_dead(name: str) -> bool:
    """True when ``name`` is a temp written by a process of this host that has exited."""
    _, _, tail = name.partition(".tmp-")
    parts = tail.split("-")
    if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
