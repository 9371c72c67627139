"""Remembered hashes: (inode, size, mtime) -> md5, so unchanged files are never re-read.

Like DVC's state database: ``status`` on a 1 GB file that did not change is a ``stat`` call,
and re-adding it is free. Any change to size, mtime or inode invalidates the entry. It is
only a cache: a lost or damaged file just means hashing again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from imdbops.atomic import atomic_write_json


class HashState:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._data: dict[str, list] | None = None
        self._dirty = False

    def _load(self) -> dict[str, list]:
        if self._data is None:
            try:
                self._data = json.loads(self.path.read_text(encoding="utf-8"))
            except (FileNotFoundError, json.JSONDecodeError):
                self._data = {}
        return self._data

    @staticmethod
    def _key(file: Path) -> tuple[str, list[int]]:
        st = os.stat(file)
        return str(Path(file).absolute()), [st.st_ino, st.st_size, st.st_mtime_ns]

    def get(self, file: Path) -> str | None:
        try:
            key, sig = self._key(file)
        except FileNotFoundError:
            return None
        entry = self._load().get(key)
        return entry[3] if entry and entry[:3] == sig else None

    def put(self, file: Path, md5: str) -> None:
        key, sig = self._key(file)
        self._load()[key] = [*sig, md5]
        self._dirty = True

    def save(self) -> None:
        if self._dirty and self._data is not None:
            with contextlib.suppress(OSError):  # a cache that cannot be saved is not an error
                atomic_write_json(self.path, self._data)
            self._dirty = False
