"""Every docs page that the code points users to (help texts, errors, docstrings) exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POINTER = re.compile(r"\bdocs/[\w./-]+?\.md\b")


def pointers() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "src" / "imdbops").rglob("*.py")):
        for target in POINTER.findall(path.read_text(encoding="utf-8")):
            found.setdefault(target, []).append(str(path.relative_to(REPO)))
    return found


def test_code_points_only_to_existing_docs_pages():
    found = pointers()
    # The CLI's --help texts point into the docs; if none are found the scan itself is broken.
    assert "docs/getting-started.md" in found
    missing = {t: files for t, files in found.items() if not (REPO / t).is_file()}
    assert not missing, f"these files point to docs pages that do not exist: {missing}"
