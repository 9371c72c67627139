"""Which code produced an artifact: the git commit recorded in manifests and model tags."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_commit(cwd: Path | None = None) -> str | None:
    """``$GIT_COMMIT`` (set in the container image, which has no ``.git``), else
    ``git rev-parse HEAD`` in ``cwd``, else ``None`` outside a repository."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None
