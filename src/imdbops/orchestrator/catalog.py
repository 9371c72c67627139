"""Catalog entries: where an artifact lives (a file or folder) or which outside system holds it.

A :class:`Location` is what a step receives for each declared input and output: a path
(``os.PathLike``, so ``Path(loc)`` and ``open(loc)`` work) plus the names of the files
inside a folder artifact that other steps read (``loc.file("metrics")``), so those names are
written in the catalog, not hard-coded by each reader.

An :class:`External` is an output that lives outside the project folder (a model version in
a registry, an alias, objects in a lake). Its ``identity`` (system URL without credentials)
enters the cache key; its ``check`` (``"module:function"``, imported only when called) tells
on a cache hit whether what the task recorded is still there and unchanged.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ExternalUnreachableError(RuntimeError):
    """An external system could not be asked during a cache-hit check; names its URL."""


@dataclass(frozen=True)
class Location(os.PathLike):
    """Where one artifact lives, and the named files inside it (folder artifacts)."""

    artifact: str
    path: Path
    files: Mapping[str, str] = field(default_factory=dict)

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def file(self, key: str) -> Path:
        """The path of the named file ``key`` inside this artifact folder."""
        try:
            return self.path / self.files[key]
        except KeyError:
            raise KeyError(
                f"artifact {self.artifact!r} declares no file {key!r} (it has: "
                f"{', '.join(sorted(self.files)) or 'none'}); add it to the artifact's files "
                "in the catalog"
            ) from None


def file_in(location: Location, key: str) -> Path:
    """``location.file(key)``: the file names of a folder artifact are the catalog's alone,
    so a bare path (which names no files) is refused with the fix."""
    if isinstance(location, Location):
        return location.file(key)
    raise TypeError(
        f"{location} is a bare path, which names none of its files ({key!r} asked); pass the "
        "catalog's Location of the folder (imdbops.pipelines.contract.folder(artifact, path))"
    )


@dataclass(frozen=True)
class External:
    """An output held by an outside system.

    ``identity``: what names that system (e.g. ``{"tracking_uri": ..., "model": ...}``),
    without credentials; it is part of the producing task's cache key. ``check``:
    ``"module:function"``; called as ``check(identity, record, access)`` where ``record`` is what
    the task reported under ``result["external"][name]``; returns ``None`` when the output
    is still there and matches, else a one-line reason (``"external output missing: ..."``);
    raises :class:`ExternalUnreachableError` when the system cannot be asked.
    """

    identity: Mapping[str, Any]
    check: str
    description: str = ""
    # How to reach the system (may hold credentials): handed to ``check`` only, never
    # hashed, recorded or printed.
    access: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def run_check(self, record: Mapping[str, Any]) -> str | None:
        return resolve_check(self.check)(dict(self.identity), dict(record), dict(self.access))


def resolve_check(ref: str) -> Callable[[dict, dict, dict], str | None]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
