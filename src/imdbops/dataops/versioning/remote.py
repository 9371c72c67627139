"""A DVC-compatible remote on the lake: the same ``files/md5/ab/cdef…`` keys as the cache."""

from __future__ import annotations

from typing import Any

from imdbops.dataops.lake import Lake
from imdbops.dataops.versioning.cache import Cache, Progress, object_key
from imdbops.dataops.versioning.errors import CorruptObjectError, MissingObjectError
from imdbops.dataops.versioning.hashing import md5_stream

REMOTE_SUBDIR = "dvc"


class Remote:
    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.lake = Lake(url, storage_options)
        self.url = self.lake.url

    def has(self, md5: str) -> bool:
        return self.lake.exists(object_key(md5))

    def upload(self, cache: Cache, md5: str, progress: Progress | None = None) -> None:
        # Verified while streaming: a cache object damaged after it was added (e.g. edited
        # in place through a hardlink) is refused instead of spreading to every clone.
        try:
            self.lake.put_file(
                cache.path(md5),
                object_key(md5),
                progress,
                expect_md5=md5.removesuffix(".dir"),
                point="versioning.push",
            )
        except ValueError as exc:
            raise CorruptObjectError(md5, f"the cache ({cache.path(md5)})", str(exc)) from None

    def download(self, cache: Cache, md5: str) -> None:
        """Fetch an object into the cache, verifying its hash before it is committed."""
        key = object_key(md5)
        try:
            src = self.lake.open_read(key)
        except FileNotFoundError:
            raise MissingObjectError(
                md5,
                f"remote {self.url} (looked for {self.lake.url_for(key)})",
                "push it from the machine that added it (`imdbops data push`)",
            ) from None
        with cache.staging() as tmp:
            with src, open(tmp, "wb") as sink:
                actual, _ = md5_stream(src, sink)
            if actual != md5.removesuffix(".dir"):
                raise CorruptObjectError(
                    md5,
                    f"remote {self.url} ({self.lake.url_for(key)})",
                    f"its content hashes to {actual}",
                )
            cache.commit(tmp, md5)


def remote_for(cfg: Any, url: str | None = None) -> Remote:
    """``url`` if given, else ``<lake url>/dvc``; lake storage options apply to the same scheme."""
    lake_url = cfg.lake.url.rstrip("/")
    target = url or f"{lake_url}/{REMOTE_SUBDIR}"
    same_scheme = _scheme(target) == _scheme(lake_url)
    return Remote(target, cfg.lake.storage_options if same_scheme else None)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "file"
