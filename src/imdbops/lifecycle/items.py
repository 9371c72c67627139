"""One thing gc may remove, the journal that lists them before anything goes, and the shared
helpers to size and remove local folders without leaving half of one behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imdbops.atomic import atomic_write_json

JOURNAL_VERSION = 1
# A folder being removed is first renamed to this prefix (atomic), so no reader ever sees
# half of one; a later gc removes what a kill left behind.
TRASH_PREFIX = ".gc-trash-"


@dataclass(frozen=True)
class Item:
    """``kind`` names the owner (``run``, ``artifact``, ``model_version``, ...); ``target``
    is its identity there (a run id, a key, a version); ``where`` is for people."""

    kind: str
    target: str
    reason: str
    where: str = ""
    size: int | None = None
    detail: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.target)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class Found:
    """What one owner found: ``remove`` may go, ``keep`` (kind, target) must stay."""

    remove: list[Item] = field(default_factory=list)
    keep: set[tuple[str, str]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def sort(
        self,
        kind: str,
        target: str,
        kept: bool,
        reason: str,
        where: str = "",
        size: Callable[[], int | None] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Keep ``(kind, target)``, or list it for removal with ``reason``; ``size`` is
        called only for what goes (on an object store it costs a listing)."""
        if kept:
            self.keep.add((kind, target))
        else:
            item = Item(kind, target, reason, where, size() if size else None, detail or {})
            self.remove.append(item)


def journal_path(cfg: Any) -> Path:
    return Path(cfg.paths.state_dir) / "gc" / "journal.json"


def write_journal(cfg: Any, items: list[Item], started_at: str) -> Path:
    data = {
        "version": JOURNAL_VERSION,
        "started_at": started_at,
        "items": [i.to_dict() for i in items],
    }
    return atomic_write_json(journal_path(cfg), data)


def read_journal(cfg: Any) -> list[Item] | None:
    """The items of an interrupted gc, or None when the last one finished."""
    path = journal_path(cfg)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        # Written atomically, so only a hand edit gets here.
        raise ValueError(
            f"gc journal {path} is not valid JSON ({exc}); delete it and run `imdbops gc` again"
        ) from None
    return [Item.from_dict(i) for i in data.get("items", [])]


def clear_journal(cfg: Any) -> None:
    with contextlib.suppress(FileNotFoundError):
        journal_path(cfg).unlink()


def local_size(path: Path) -> int:
    """Bytes under ``path`` (a file or a folder); 0 when it is gone."""
    try:
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except FileNotFoundError:
        return 0


def remove_local(path: Path) -> None:
    """Remove a file, or a folder by renaming it aside first (one atomic step for readers)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        trash = path.parent / f"{TRASH_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.replace(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def sweep_trash(folder: Path) -> list[Path]:
    """Finish removing folders a killed gc had renamed aside under ``folder``."""
    try:
        leftovers = [p for p in Path(folder).iterdir() if p.name.startswith(TRASH_PREFIX)]
    except FileNotFoundError:
        return []
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers
