"""Helpers shared by the tests and the benchmarks; not part of the product package.

Tests import them as ``support.*`` (pytest puts ``tests/`` on ``sys.path``: pyproject's
``pythonpath``); benchmarks and child processes add ``TESTS_DIR`` to ``sys.path`` first
(``SYS_PATH_PREAMBLE`` does it for a ``python -c`` script).
"""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]

# Prepend to a `python -c` script that imports support.* in a child process.
SYS_PATH_PREAMBLE = f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); "
