"""DVC-compatible data versioning: ``.dvc`` files, content-addressed cache and remote.

Names are resolved on first use, so ``imdbops data add`` can import ``hashing`` (stdlib only)
at the very start of the process without pulling in the config and lake layers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PushResult": "commands",
    "StatusEntry": "commands",
    "add": "commands",
    "checkout": "commands",
    "fetch": "commands",
    "find_dvc_files": "commands",
    "history": "commands",
    "pull": "commands",
    "push": "commands",
    "status": "commands",
    "DvcFileError": "dvcfile",
    "DvcOut": "dvcfile",
    "read_dvc_file": "dvcfile",
    "CorruptObjectError": "errors",
    "MissingObjectError": "errors",
    "VersioningError": "errors",
    "md5_file": "hashing",
}
# ``log`` is the contract name; ``history`` avoids shadowing the logging idiom inside modules.
_ALIASES = {"log": "history"}

__all__ = sorted([*_EXPORTS, *_ALIASES])


def __getattr__(name: str) -> Any:
    target = _ALIASES.get(name, name)
    if target not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[target]}")
    value = getattr(module, target)
    globals()[name] = value
    return value
