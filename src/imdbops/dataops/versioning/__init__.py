"""DVC-compatible data versioning: ``.dvc`` files, content-addressed cache and remote."""

from __future__ import annotations

from imdbops.dataops.versioning.commands import (
    PushResult,
    StatusEntry,
    add,
    checkout,
    find_dvc_files,
    history,
    pull,
    push,
    status,
)
from imdbops.dataops.versioning.dvcfile import DvcFileError, DvcOut, read_dvc_file
from imdbops.dataops.versioning.errors import (
    CorruptObjectError,
    MissingObjectError,
    VersioningError,
)
from imdbops.dataops.versioning.hashing import md5_file

# ``log`` is the contract name; ``history`` avoids shadowing the logging idiom inside modules.
log = history

__all__ = [
    "CorruptObjectError",
    "DvcFileError",
    "DvcOut",
    "MissingObjectError",
    "PushResult",
    "StatusEntry",
    "VersioningError",
    "add",
    "checkout",
    "find_dvc_files",
    "history",
    "log",
    "md5_file",
    "pull",
    "push",
    "read_dvc_file",
    "status",
]
