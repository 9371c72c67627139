"""Cache-hit checks for the DAGs' lake outputs: the snapshot ``load`` published, the objects
``version`` pushed to the DVC remote and the scores' copy ``publish`` wrote must still be
there with the same md5.

Each returns ``None`` (still there and matching) or a reason; a lake that cannot be asked
raises :class:`ExternalUnreachableError` naming the URL, so an outage never passes for a
hit nor quietly triggers a re-run.
"""

from __future__ import annotations

from typing import Any

from imdbops.orchestrator.catalog import ExternalUnreachableError


def check_lake_object(identity: dict, record: dict, access: dict) -> str | None:
    """``record``: ``{"key", "md5", "size"}`` of one object under ``identity["url"]``."""
    lake = _open(identity, access)
    return _object_problem(lake, record["key"], record["md5"], record.get("size"))


def check_optional_lake_object(identity: dict, record: dict, access: dict) -> str | None:
    """As :func:`check_lake_object`, for a step that may write no object (``publish`` with
    nothing new to score records ``{"key": None}``, which is always still there)."""
    if record.get("key") is None:
        return None
    return check_lake_object(identity, record, access)


def check_remote_objects(identity: dict, record: dict, access: dict) -> str | None:
    """``record``: ``{"objects": {md5: size}}`` pushed to the DVC remote at ``identity``."""
    from imdbops.dataops.versioning.cache import object_key

    lake = _open(identity, access)
    for md5, size in sorted((record.get("objects") or {}).items()):
        problem = _object_problem(lake, object_key(md5), md5.removesuffix(".dir"), size)
        if problem:
            return problem
    return None


class _LocalLake:
    """A lake folder on this machine, checked with ``os``: no fsspec import on a no-change
    re-run (the same paths and URLs as ``dataops.lake.Lake`` gives for a folder)."""

    is_local = True

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.root = self.url.removeprefix("file://")

    def path(self, key: str) -> str:
        return f"{self.root}/{key.lstrip('/')}"

    def url_for(self, key: str) -> str:
        return f"{self.url}/{key.lstrip('/')}"

    @property
    def fs(self) -> _LocalLake:
        return self

    def info(self, path: str) -> dict[str, Any]:
        import os

        return {"size": os.stat(path).st_size}


def _open(identity: dict, access: dict) -> Any:
    url = access.get("url") or identity["url"]
    if "://" not in url or url.startswith("file://"):
        return _LocalLake(url)
    from imdbops.dataops.lake import Lake, LakeError

    try:
        return Lake(access.get("url") or identity["url"], access.get("storage_options"))
    except LakeError as exc:
        raise ExternalUnreachableError(str(exc)) from None


def _object_problem(lake: Any, key: str, md5: str, size: int | None) -> str | None:
    url = lake.url_for(key)
    try:
        info = lake.fs.info(lake.path(key))
    except FileNotFoundError:
        return f"external output missing: {url}"
    except Exception as exc:  # botocore and friends: the lake could not be asked
        raise ExternalUnreachableError(
            f"cannot reach the lake at {lake.url} to check {url}: {type(exc).__name__}: {exc}"
        ) from None
    if size is not None and info.get("size") is not None and int(info["size"]) != int(size):
        return f"external output changed: {url} has {info['size']} bytes, recorded {size}"
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    if etag and "-" not in etag:  # a single-part upload's ETag is its md5
        actual = etag
    elif lake.is_local:
        from imdbops.dataops.versioning.hashing import md5_file

        actual = md5_file(lake.path(key))
    else:
        return None  # multipart object: the size matched and no md5 is available cheaply
    if actual != md5:
        return f"external output changed: {url} has md5 {actual}, recorded {md5}"
    return None
