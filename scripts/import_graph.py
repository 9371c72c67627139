"""Measure the shape of the imdbops package: cycles, imports against the layer order, sizes.

Usage: ``python scripts/import_graph.py [--json]`` (needs ``grimp``, which comes with
import-linter in the dev extras). It reads the source statically; nothing is imported.

The layer order is read from the layers contract that ``lint-imports`` enforces
(pyproject.toml ``[tool.importlinter]``); this script reports on the graph, the linter fails
the build. "Sideways" imports go between two top-level modules of the same layer.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tomllib
from pathlib import Path

ROOT = "imdbops"
REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def read_layers() -> dict[str, int]:
    """Top-level module -> layer number (0 = bottom), from the import-linter layers contract,
    so this report and ``lint-imports`` read the one written order."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    order: dict[str, int] = {}
    for height, layer in enumerate(reversed(contract["layers"])):
        for name in layer.replace(":", "|").split("|"):
            order[name.strip().strip("()")] = height
    return order


LAYERS = read_layers()


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer(module: str) -> int:
    return LAYERS.get(top(module), -1)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def module_path(module: str) -> Path:
    base = SRC.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def nested_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every ``imdbops`` import inside a function body."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(ROOT):
                found.append((node.lineno, node.module))
            elif isinstance(node, ast.Import):
                found += [(node.lineno, a.name) for a in node.names if a.name.startswith(ROOT)]
    return found


def largest_function(paths: dict[str, Path]) -> tuple[str, int]:
    best = ("", 0)
    for module, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1
                if size > best[1]:
                    best = (f"{module}.{node.name}", size)
    return best


def measure(src: Path = SRC) -> dict:
    import grimp

    global SRC
    SRC = src
    sys.path.insert(0, str(src))
    graph = grimp.build_graph(ROOT, cache_dir=None)
    modules = sorted(graph.modules)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in modules}
    paths = {m: module_path(m) for m in modules if module_path(m).exists()}
    upward, sideways = [], []
    for importer, imported in sorted((a, b) for a, bs in edges.items() for b in bs):
        if layer(imported) > layer(importer):
            upward.append(f"{importer} -> {imported}")
        elif layer(imported) == layer(importer) and top(imported) != top(importer):
            sideways.append(f"{importer} -> {imported}")
    cycles = strongly_connected(edges)
    in_cycle = {m: i for i, c in enumerate(cycles) for m in c}
    nested, n_nested = [], 0
    for module, path in paths.items():
        for line, target in nested_imports(path):
            n_nested += 1
            target = next((t for t in (target, target.rpartition(".")[0]) if t in edges), target)
            same_cycle = module in in_cycle and in_cycle.get(target) == in_cycle[module]
            if layer(target) > layer(module) or same_cycle:
                nested.append(f"{module}:{line} -> {target}")
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in paths.items()}
    big_module = max(sizes, key=sizes.get)
    fn, fn_lines = largest_function(paths)
    return {
        "modules": len(modules),
        "imports": sum(len(v) for v in edges.values()),
        "cycles": cycles,
        "upward_imports": upward,
        "sideways_imports": sideways,
        "imports_inside_functions": n_nested,
        "upward_or_cyclic_imports_inside_functions": nested,
        "largest_module": {"module": big_module, "lines": sizes[big_module]},
        "largest_function": {"function": fn, "lines": fn_lines},
        "modules_over_300_lines": sorted(m for m, n in sizes.items() if n > 300),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--src", type=Path, default=SRC, help="folder holding the imdbops package (default: src)"
    )
    args = parser.parse_args()
    result = measure(args.src.resolve())
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['modules']} modules, {result['imports']} direct imports")
    print(f"imports inside functions: {result['imports_inside_functions']}")
    for key in (
        "cycles",
        "upward_imports",
        "sideways_imports",
        "upward_or_cyclic_imports_inside_functions",
    ):
        items = result[key]
        print(f"\n{key.replace('_', ' ')}: {len(items)}")
        for item in items:
            print("  " + (" <-> ".join(item) if isinstance(item, list) else item))
    print(f"\nlargest module: {result['largest_module']}")
    print(f"largest function: {result['largest_function']}")
    print(f"modules over 300 lines: {result['modules_over_300_lines']}")


if __name__ == "__main__":
    main()
