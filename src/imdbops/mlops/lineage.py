"""Lineage that registration records beyond the data and split hashes, so that
``imdbops model reproduce`` can rebuild a version exactly and name what drifted."""

from __future__ import annotations

import json
from typing import Any

# The libraries whose versions decide a fitted model's numbers.
LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn", "lightgbm")


def library_versions() -> dict[str, str]:
    """Python's and each library's installed version (``absent`` when not installed)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def lineage_tags(params: dict[str, Any]) -> dict[str, str]:
    """Version tags: the exact parameters (MLflow params are strings) and library versions."""
    return {
        "params_json": json.dumps(params, sort_keys=True),
        "lib_versions": json.dumps(library_versions(), sort_keys=True),
    }
