"""A test that cannot run here skips on a developer's machine but fails in CI.

`.ci/run` exports CI=1 (GitHub Actions sets CI=true) and installs every system part the
suite needs, so in CI a missing part is a broken setup, never a silent skip.
"""

from __future__ import annotations

import os

import pytest


def skip_unless_ci(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)
