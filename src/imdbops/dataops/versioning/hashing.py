"""Content hashes exactly as DVC 3 computes them (``hash: md5``: raw bytes, no dos2unix).

Files are streamed through one reused buffer, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from imdbops.dataops.versioning import prehash
from imdbops.dataops.versioning.errors import ChangedWhileReadingError
from imdbops.dataops.versioning.filehash import (
    CHUNK_SIZE,
    Progress,
    hash_path,
    identity,
    md5_stream,
)

__all__ = [
    "CHUNK_SIZE",
    "DIR_SUFFIX",
    "DirEntry",
    "Progress",
    "dir_listing",
    "dir_md5",
    "dir_object_bytes",
    "hash_path",
    "identity",
    "is_dir_hash",
    "md5_copy",
    "md5_file",
    "md5_stream",
    "parse_dir_object",
    "same_file",
]

DIR_SUFFIX = ".dir"


def md5_file(path: str | Path, progress: Progress | None = None) -> str:
    """The md5 of a file's bytes, read in ``CHUNK_SIZE`` pieces (or a matching prehash)."""
    pending = prehash.take(path)
    result = pending.wait(progress) if pending is not None else None
    if result is not None and identity(path) == pending.identity:
        return result[0]
    return hash_path(path, progress)[0]


def md5_copy(src: str | Path, dst: str | Path, progress: Progress | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` and return the md5 and size of the bytes copied.

    The copy runs in the kernel (``sendfile`` via ``shutil``) on a second thread while this
    one hashes ``src`` (or waits for its prehash, see ``prehash.py``); both release
    the GIL, so on two cores the whole costs about one md5 (a copy then a hash cost 1.25x).
    Reading ``src`` twice is safe only if it did not change in between, so its inode, size
    and timestamps are compared before and after: a concurrent writer raises
    ``ChangedWhileReadingError`` and the caller stores nothing.
    """
    pending = prehash.take(src)
    before = pending.identity if pending is not None else identity(src)
    failure: list[BaseException] = []

    def copy() -> None:
        try:
            shutil.copyfile(src, dst)
        except BaseException as exc:  # re-raised on the calling thread
            failure.append(exc)

    copier = threading.Thread(target=copy, name="md5-copy", daemon=True)
    copier.start()
    try:
        result = pending.wait(progress) if pending is not None else None
        md5, size = result if result is not None else hash_path(src, progress)
    finally:
        copier.join()
    if failure:
        raise failure[0]
    if identity(src) != before or os.stat(dst).st_size != size:
        raise ChangedWhileReadingError(str(src))
    return md5, size


@dataclass(frozen=True)
class DirEntry:
    relpath: str  # POSIX separators, relative to the directory
    md5: str
    size: int


def dir_listing(root: str | Path) -> list[Path]:
    """Every regular file under ``root``, sorted by POSIX relpath (DVC's order)."""
    root = Path(root)
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def dir_object_bytes(entries: list[DirEntry]) -> bytes:
    """The ``.dir`` object body byte-for-byte as dvc-data writes it (its md5 is the dir hash)."""
    listing = sorted(
        ({"md5": e.md5, "relpath": e.relpath} for e in entries), key=lambda d: d["relpath"]
    )
    return json.dumps(listing, sort_keys=True).encode("utf-8")


def dir_md5(entries: list[DirEntry]) -> str:
    return hashlib.md5(dir_object_bytes(entries)).hexdigest() + DIR_SUFFIX


def parse_dir_object(data: bytes) -> list[dict]:
    listing = json.loads(data.decode("utf-8"))
    if not isinstance(listing, list):
        raise ValueError("a .dir object must hold a JSON list of {md5, relpath}")
    return listing


def is_dir_hash(md5: str) -> bool:
    return md5.endswith(DIR_SUFFIX)


def same_file(path: Path, md5: str, size: int | None) -> bool:
    """True when ``path`` already holds content with this hash (size checked first: cheap)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    if size is not None and st.st_size != size:
        return False
    return md5_file(path) == md5
