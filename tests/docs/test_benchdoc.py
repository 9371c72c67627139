"""benchmarks/benchdoc.py: a benchmark's table lands in its docs page, stamped and atomic."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHDOC = Path(__file__).resolve().parents[2] / "benchmarks" / "benchdoc.py"

DOC = """Demo benchmark: how fast is nothing.

Measures nothing twice. Target: under 1 s.

    .venv/bin/python benchmarks/demo.py --size 3
"""


@pytest.fixture
def benchdoc(monkeypatch):
    spec = importlib.util.spec_from_file_location("benchdoc_under_test", BENCHDOC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["benchmarks/demo.py", "--size", "3"])
    return module


def test_publish_writes_the_table_with_its_stamp(benchdoc, tmp_path, monkeypatch):
    monkeypatch.setenv("IMDBOPS_BENCH_DOCS", str(tmp_path))
    table = benchdoc.md_table(["case", "wall s"], [["a|b", "1.50"]], align="lr")
    page = benchdoc.publish("demo", DOC, [table], notes=["target: met"])

    assert page == tmp_path / "demo.md"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.md"]  # no temp file left
    text = page.read_text()
    assert text.startswith("# Demo benchmark: how fast is nothing\n")
    assert "| case | wall s |\n|---|---:|\n| a\\|b | 1.50 |" in text
    assert "- target: met" in text
    assert "| command | `python benchmarks/demo.py --size 3` |" in text
    for row in ("| date | 20", "| machine | ", "| load average (1 min) | ", "| commit | "):
        assert row in text
    assert "CPUs" in text and "at start" in text and "at the end" in text
    # The docstring's usage line becomes a code block under "What it measures".
    assert "## What it measures\n\nMeasures nothing twice." in text
    assert "```bash\n.venv/bin/python benchmarks/demo.py --size 3\n```" in text


def test_publish_replaces_the_previous_page(benchdoc, tmp_path, monkeypatch):
    monkeypatch.setenv("IMDBOPS_BENCH_DOCS", str(tmp_path))
    (tmp_path / "demo.md").write_text("# old figures\n")
    benchdoc.publish("demo", DOC, ["| x |\n|---|\n| 2 |"])
    assert "old figures" not in (tmp_path / "demo.md").read_text()


def test_off_writes_nothing(benchdoc, tmp_path, monkeypatch):
    monkeypatch.setenv("IMDBOPS_BENCH_DOCS", "off")
    monkeypatch.setattr(benchdoc, "DOCS_DIR", tmp_path)
    assert benchdoc.publish("demo", DOC, ["| x |\n|---|\n| 1 |"]) is None
    assert list(tmp_path.iterdir()) == []


def test_rich_tables_become_markdown(benchdoc):
    from rich.table import Table

    table = Table(title="runs")
    table.add_column("scenario")
    table.add_column("wall s", justify="right")
    table.add_row("cold", "106.3")
    table.add_row("no change", "2.32")
    assert benchdoc.rich_to_md(table) == (
        "**runs**\n\n| scenario | wall s |\n|---|---:|\n| cold | 106.3 |\n| no change | 2.32 |"
    )
