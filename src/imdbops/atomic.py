"""Atomic file writes: write to a temporary name in the same folder, then rename into place.

A reader (or a crash) never sees a half-written file: the rename is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed onto ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_open(target: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(target: str | Path, text: str) -> Path:
    with atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(target)


def atomic_write_json(target: str | Path, data: Any) -> Path:
    return atomic_write_text(target, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
