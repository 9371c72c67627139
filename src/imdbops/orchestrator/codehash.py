"""The hash of a task's code: its own source plus every project module it imports, transitively.

Imports are found with ``ast`` (module level and inside function bodies, since heavy steps
import lazily), resolved to files without importing anything, and followed within the
project's packages only (third-party upgrades are an environment concern, not a cache key).
Module hashes are memoised by (path, mtime, size), so hashing a whole DAG costs a few ms.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_MODULE_CACHE: dict[tuple[str, int, int], tuple[str, tuple[str, ...]]] = {}
MISSING = "missing"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def module_file(name: str) -> Path | None:
    """Locate ``a.b.c``'s source file without importing it (only the top package's spec)."""
    top, *rest = name.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for base in spec.submodule_search_locations or ():
        candidate = Path(base, *rest)
        for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if path.is_file():
                return path
    return None


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Dotted names imported anywhere in ``tree`` (relative imports resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            names.add(mod)
            # ``from pkg import submodule`` imports a module, not only a name.
            names.update(f"{mod}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _scan_module(name: str) -> tuple[str, tuple[str, ...]]:
    """(hash of the module's source, project-relative imports) — memoised by stat."""
    path = module_file(name)
    if path is None:
        return MISSING, ()
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _MODULE_CACHE:
        source = path.read_bytes()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            tree = ast.Module(body=[], type_ignores=[])
        deps = tuple(sorted(_imports(tree, name, path.name == "__init__.py")))
        _MODULE_CACHE[key] = (_sha(source), deps)
    return _MODULE_CACHE[key]


def _in_packages(name: str, packages: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def module_closure(roots: Iterable[str], packages: Iterable[str]) -> dict[str, str]:
    """Hashes of ``roots`` and every module in ``packages`` they import, transitively."""
    packages = tuple(packages)
    hashes: dict[str, str] = {}
    todo = [r for r in roots if _in_packages(r, packages)]
    while todo:
        name = todo.pop()
        if name in hashes:
            continue
        digest, deps = _scan_module(name)
        if digest == MISSING and module_file(name.rpartition(".")[0] or name) is not None:
            # ``from pkg.mod import function``: the candidate ``pkg.mod.function`` is a name,
            # not a module; its module is already tracked.
            continue
        hashes[name] = digest
        todo.extend(d for d in deps if _in_packages(d, packages) and d not in hashes)
    return dict(sorted(hashes.items()))


def _function_source(fn: Callable[..., Any]) -> tuple[str, ast.AST | None]:
    """The function's current source, read from disk (not a stale ``linecache``)."""
    module = sys.modules.get(fn.__module__)
    path = getattr(module, "__file__", None)
    if path and Path(path).is_file():
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        name = fn.__qualname__.split(".")[-1]
        # Top-level definitions first: a nested function of the same name must not win.
        for node in [*tree.body, *ast.walk(tree)]:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                return ast.unparse(node), node
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        return source, ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        code = fn.__code__
        return repr((code.co_code, code.co_consts, code.co_names)), None


def code_fingerprint(
    fn: Callable[..., Any], packages: Iterable[str] | None = None
) -> dict[str, Any]:
    """``{"hash", "modules": {name: hash}}`` for a task function.

    The function's own source counts, plus same-module helpers it calls by name, plus the
    closure of project modules imported by its module's top level and by its own body. Other
    functions in the same module do not count, so editing one task wrapper does not
    invalidate its siblings.
    """
    module_name = fn.__module__
    packages = tuple(packages or (module_name.split(".")[0],))
    own, node = _function_source(fn)
    parts = [own]
    roots: set[str] = set()
    module = sys.modules.get(module_name)
    mod_path = getattr(module, "__file__", None)
    if mod_path and Path(mod_path).is_file():
        tree = ast.parse(Path(mod_path).read_text(encoding="utf-8"))
        top_level = ast.Module(
            body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)],
            type_ignores=[],
        )
        roots |= _imports(top_level, module_name, Path(mod_path).name == "__init__.py")
        helpers = {
            n.name: n
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        }
        seen = {fn.__name__}
        todo = [node] if node is not None else []
        while todo:
            current = todo.pop()
            roots |= _imports(current, module_name, Path(mod_path).name == "__init__.py")
            for ref in ast.walk(current):
                if isinstance(ref, ast.Name) and ref.id in helpers and ref.id not in seen:
                    seen.add(ref.id)
                    parts.append(ast.unparse(helpers[ref.id]))
                    todo.append(helpers[ref.id])
    modules = module_closure(roots, packages)
    modules.pop(module_name, None)
    # The runner's own code decides when tasks run, not what they write.
    own_package = __name__.rpartition(".")[0]
    modules = {m: h for m, h in modules.items() if not _in_packages(m, (own_package,))}
    blob = "\n".join(parts) + "\n" + "\n".join(f"{k}={v}" for k, v in modules.items())
    return {"hash": _sha(blob.encode()), "modules": modules}
