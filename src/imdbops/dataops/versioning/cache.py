"""The local content-addressed cache, laid out like DVC 3's: ``files/md5/ab/cdef…``."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from imdbops.atomic import atomic_path
from imdbops.dataops.versioning.errors import CorruptObjectError, MissingObjectError
from imdbops.dataops.versioning.hashing import (
    DIR_SUFFIX,
    DirEntry,
    dir_listing,
    dir_md5,
    dir_object_bytes,
    md5_copy,
    md5_file,
    parse_dir_object,
)
from imdbops.dataops.versioning.state import HashState

Progress = Callable[[int], None]
LINK_TYPES = ("copy", "hardlink")


def object_key(md5: str) -> str:
    """``files/md5/ab/cdef…`` — shared by the cache, the remote, and DVC itself."""
    return f"files/md5/{md5[:2]}/{md5[2:]}"


class Cache:
    def __init__(self, root: str | Path, state: HashState | None = None):
        self.root = Path(root)
        self.state = state

    def known_md5(self, path: str | Path) -> str | None:
        return self.state.get(Path(path)) if self.state is not None else None

    def remember(self, path: str | Path, md5: str) -> None:
        if self.state is not None:
            self.state.put(Path(path), md5)

    def save_state(self) -> None:
        if self.state is not None:
            self.state.save()

    def path(self, md5: str) -> Path:
        return self.root / object_key(md5)

    def has(self, md5: str) -> bool:
        return self.path(md5).is_file()

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A temp file on the cache's filesystem, so moving it into place is a rename."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{uuid.uuid4().hex}.tmp"
        try:
            yield tmp
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def commit(self, tmp: Path, md5: str) -> Path:
        """Move a fully written, already hashed temp file into its content address."""
        dest = self.path(md5)
        if dest.exists():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Objects are immutable; read-only guards them against editing through a link.
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp, dest)
        return dest

    def add_file(
        self, path: str | Path, progress: Progress | None = None, link: str = "copy"
    ) -> tuple[str, int]:
        """Hash ``path`` and store it. Returns (md5, size).

        ``copy`` (default) reads the file once, hashing and copying in the same pass.
        ``hardlink`` only hashes and links the object to the workspace file (no second
        copy of the bytes; DVC's ``cache.type = hardlink``). Both files then share one inode
        made read-only, so only replace the file (write-new-then-rename, as every imdbops
        writer does), never edit it in place. Falls back to copying across filesystems.
        """
        if link not in LINK_TYPES:
            raise ValueError(f"unknown link type {link!r}; use one of {', '.join(LINK_TYPES)}")
        known = self.known_md5(path)
        if known is not None and self.has(known):
            return known, os.stat(path).st_size  # unchanged since last hashed, already stored
        md5, size = self._store(path, progress, link)
        self.remember(path, md5)
        return md5, size

    def _store(self, path: str | Path, progress: Progress | None, link: str) -> tuple[str, int]:
        if link == "hardlink":
            md5 = md5_file(path, progress)
            size = os.stat(path).st_size
            if self.has(md5):
                return md5, size
            with self.staging() as tmp:
                try:
                    os.link(path, tmp)
                except OSError:  # another filesystem, or links not allowed: copy instead
                    return self._store(path, None, "copy")
                self.commit(tmp, md5)
            return md5, size
        with self.staging() as tmp:
            md5, size = md5_copy(path, tmp, progress)
            self.commit(tmp, md5)
        return md5, size

    def add_bytes(self, data: bytes, md5: str) -> Path:
        with self.staging() as tmp:
            tmp.write_bytes(data)
            return self.commit(tmp, md5)

    def add_dir(
        self, path: str | Path, progress: Progress | None = None, link: str = "copy"
    ) -> tuple[str, int, int]:
        """Store every file under ``path`` and the ``.dir`` listing. Returns (md5, size, n)."""
        root = Path(path)
        entries = []
        for file in dir_listing(root):
            md5, size = self.add_file(file, progress, link)
            entries.append(DirEntry(file.relative_to(root).as_posix(), md5, size))
        dir_hash = dir_md5(entries)
        self.add_bytes(dir_object_bytes(entries), dir_hash)
        return dir_hash, sum(e.size for e in entries), len(entries)

    def read_dir(self, md5: str) -> list[dict]:
        if not self.has(md5):
            raise MissingObjectError(md5, f"the cache {self.root}", "run `imdbops data pull`")
        return parse_dir_object(self.path(md5).read_bytes())

    def objects_for(self, md5: str) -> list[str]:
        """The object ids a version needs: itself, plus every file of a directory."""
        if not md5.endswith(DIR_SUFFIX):
            return [md5]
        return [md5] + [e["md5"] for e in self.read_dir(md5)]

    def checkout_file(self, md5: str, dest: str | Path, progress: Progress | None = None) -> None:
        """Copy an object to ``dest``, verifying its hash; on mismatch ``dest`` is untouched."""
        src = self.path(md5)
        if not src.is_file():
            raise MissingObjectError(
                md5, f"the cache {self.root}", "run `imdbops data pull` to fetch it"
            )
        with atomic_path(dest) as tmp:
            actual, _ = md5_copy(src, tmp, progress)
            if actual != md5:
                raise CorruptObjectError(
                    md5, f"the cache ({src})", f"its content hashes to {actual}"
                )

    def checkout_dir(self, md5: str, dest: str | Path, progress: Progress | None = None) -> None:
        """Rebuild a directory beside ``dest`` and swap it in only when every file verified."""
        dest = Path(dest)
        listing = self.read_dir(md5)
        staging = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex}")
        try:
            for entry in listing:
                self.checkout_file(entry["md5"], staging / entry["relpath"], progress)
            staging.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex}")
                os.replace(dest, old)
                os.replace(staging, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
