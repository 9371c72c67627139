"""The Airflow DAG files and their helpers (``dags/``) import one another one way only.

``dags/`` is not a package, so ``lint-imports`` does not see it: this reads every file's
imports (module level and inside functions) statically and looks for a cycle among them.
"""

from __future__ import annotations

import ast
from pathlib import Path

DAGS = Path(__file__).resolve().parents[3] / "dags"


def local_imports(folder: Path) -> dict[str, set[str]]:
    """file stem -> the stems of the other files in ``folder`` it imports."""
    names = {p.stem for p in folder.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
        graph[path.stem] = (found & names) - {path.stem}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (depth-first, colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], node, nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, [*path, node])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [])
            if found:
                return found
    return None


def test_the_dag_files_have_no_import_cycle():
    graph = local_imports(DAGS)
    # The helpers are really there and wired (an empty graph would pass vacuously).
    assert {"imdbops_settings", "imdbops_commands"} <= graph["imdbops_steps"]
    assert "imdbops_settings" in graph["imdbops_pods"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    import c\n")
    (tmp_path / "c.py").write_text("from a import x\n")
    (tmp_path / "d.py").write_text("import os\nimport a\n")
    graph = local_imports(tmp_path)
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
