"""Graph checks happen before anything runs, and name the task and the fix."""

from __future__ import annotations

import pytest

from imdbops.orchestrator import DAG, DagError, Runner, Task
from imdbops.orchestrator.render import to_dot, to_mermaid, to_text


def noop(**_):
    return None


def test_cycle_is_rejected_with_its_path():
    a = Task("a", noop, inputs=["y"], outputs=["x"])
    b = Task("b", noop, inputs=["x"], outputs=["y"])
    with pytest.raises(DagError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        DAG("toy", [a, b], catalog={"x": "x", "y": "y"})


def test_cycle_through_explicit_ordering():
    a, b, c = Task("a", noop), Task("b", noop), Task("c", noop)
    a >> b >> c >> a
    with pytest.raises(DagError, match="cycle"):
        DAG("toy", [a, b, c], catalog={})


def test_unknown_input_names_the_task_and_the_fix():
    a = Task("train", noop, inputs=["splits"], outputs=["model"])
    with pytest.raises(DagError) as err:
        DAG("toy", [a], catalog={"splits": "s", "model": "m"})
    message = str(err.value)
    assert "task 'train' reads 'splits'" in message
    assert "declare it as a source" in message


def test_duplicate_task_names():
    with pytest.raises(DagError, match=r"duplicate task name\(s\) \['a'\]"):
        DAG("toy", [Task("a", noop), Task("a", noop)], catalog={})


def test_two_producers_and_missing_catalog_entry_are_both_reported():
    a = Task("a", noop, outputs=["x"])
    b = Task("b", noop, outputs=["x", "z"])
    with pytest.raises(DagError) as err:
        DAG("toy", [a, b], catalog={"x": "x"})
    assert "written by both 'a' and 'b'" in str(err.value)
    assert "artifact 'z' has no path in the catalog" in str(err.value)


def test_unknown_after_and_unknown_force(tmp_path):
    with pytest.raises(DagError, match="runs after 'ghost'"):
        DAG("toy", [Task("a", noop, after=["ghost"])], catalog={})
    dag = DAG("toy", [Task("a", noop)], catalog={})
    runner = Runner(dag, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache")
    with pytest.raises(DagError, match=r"--force: unknown task\(s\) \['nope'\]"):
        runner.run(force=["nope"])
    assert not (tmp_path / "runs").exists(), "nothing may run before the graph checks pass"


def test_order_edges_and_pictures():
    a = Task("extract", noop, inputs=["db"], outputs=["raw"])
    gate = Task("check", noop, inputs=["raw"], outputs=["report"])
    b = Task("load", noop, inputs=["raw"], outputs=["table"])
    gate >> b
    dag = DAG(
        "toy",
        [b, gate, a],
        catalog={"db": "db", "raw": "r", "report": "rep", "table": "t"},
        sources=["db"],
    )
    assert dag.topological_order() == ["extract", "check", "load"]
    assert dag.edges() == [("extract", "check"), ("check", "load"), ("extract", "load")]
    assert dag.descendants("extract") == {"check", "load"}
    mmd = to_mermaid(dag, {"load": "failed"})
    assert "extract -->|raw| check" in mmd and "check -.-> load" in mmd
    assert "style load fill:" in mmd
    dot = to_dot(dag)
    assert '"extract" -> "load" [label="raw"];' in dot and dot.startswith('digraph "toy"')
    text = to_text(dag)
    assert text.splitlines()[1].strip() == "1. extract"
    assert "after:   check, extract" in text
