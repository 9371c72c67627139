"""``imdbops data add|push|pull|checkout|status|log``: DVC-compatible data versioning.

Registers its commands on the ``data`` group defined in ``cli/data.py``.
"""

from __future__ import annotations

from imdbops.cli.data import app  # noqa: F401
