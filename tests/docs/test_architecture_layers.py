"""The architecture pages draw the layers the import contract enforces: every top-level
module that ``[tool.importlinter]``'s layers contract lists is named in both diagrams."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = ("docs/architecture.md", "docs/architecture-layers.md")


def contract_modules(repo: Path = REPO) -> set[str]:
    config = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers"]
    return {name.strip() for layer in layers["layers"] for name in layer.split("|")}


def diagram(page: str, repo: Path = REPO) -> str:
    """The first fenced block after the page's layers heading (the layer drawing)."""
    text = (repo / page).read_text(encoding="utf-8")
    start = re.search(r"^#+ .*\blayers\b.*$", text, re.M | re.I)
    assert start, f"{page} has no heading about the layers"
    block = re.search(r"^```[a-z]*\n(.*?)^```", text[start.end() :], re.M | re.S)
    assert block, f"{page} has no diagram after its layers heading"
    return block.group(1)


def missing(page: str, repo: Path = REPO) -> list[str]:
    words = set(re.findall(r"[a-z_]+", diagram(page, repo)))
    return sorted(contract_modules(repo) - words)


def test_every_module_of_the_layers_contract_is_in_both_diagrams():
    modules = contract_modules()
    assert {"pipelines", "scoring", "orchestrator", "movies"} <= modules
    for page in PAGES:
        assert missing(page) == [], f"{page}: add these modules to the layer diagram"


def test_a_module_left_out_of_a_diagram_is_named(tmp_path):
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.importlinter.contracts]]\nid = "layers"\nlayers = ["cli", "pipelines | scoring"]\n'
    )
    page.write_text("# Title\n\n## The layers\n\n```\n cli\n  |\n pipelines\n```\n")
    assert missing("docs/page.md", tmp_path) == ["scoring"]
