"""What a registered model needs to load and predict where imdbops is not installed.

A pickled pipeline names its classes by module (``imdbops.mlops.models.features.PrepareInput``,
``lightgbm.sklearn.LGBMClassifier``...). Stock MLflow (``mlflow models predict/serve``,
``build-docker``, a serving platform) builds the model's environment from its own
``requirements.txt`` and puts its ``code/`` folder on ``sys.path``, so every version carries:

- ``code_paths``: the imdbops modules its classes live in and everything they import from
  imdbops (a few pure-Python files, not the whole package with its CLI and servers), and
- ``pip_requirements``: every third-party distribution those classes and modules import,
  pinned to the versions that trained it (``imdbops`` itself is on no package index).

Both are computed from the fitted object, so a model that holds a LightGBM booster requires
lightgbm and one that does not, does not. Given explicitly, the requirements also spare
``log_model`` MLflow's inference, which re-imports everything and reloads the model in a
subprocess (more time than the whole fit).
"""

from __future__ import annotations

import ast
import importlib.util
import io
import pickle
import shutil
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE = "imdbops"


def pickled_modules(model: Any) -> set[str]:
    """The modules whose classes and functions the pickled ``model`` refers to: exactly the
    ones an unpickler must import (read back through ``find_class``, memo and all)."""
    import cloudpickle

    modules: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            modules.add(module)
            return super().find_class(module, name)

    Recorder(io.BytesIO(cloudpickle.dumps(model))).load()
    return {m for m in modules if m.split(".")[0] not in ("builtins", "copyreg", "_codecs")}


def _source(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec else None
    return Path(origin) if origin and origin.endswith(".py") else None


def _imports(path: Path, module: str, *, nested: bool) -> set[str]:
    """Absolute module names ``path`` imports: at module level only, or anywhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if nested else iter(tree.body)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base == "__future__":
                continue
            found.add(base)
            # `from imdbops.mlops.models import stack` imports a submodule.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def code_closure(roots: set[str]) -> tuple[set[str], set[str]]:
    """The imdbops modules needed to import ``roots`` (parents included), and the top-level
    third-party packages they import. The roots' function-level imports count too (they run
    at predict time); for the modules reached from them, only their module-level imports."""
    seen: dict[str, bool] = {}  # module -> whether its nested imports were followed
    third: set[str] = set()
    todo = [(m, True) for m in roots]
    while todo:
        module, nested = todo.pop()
        if module.split(".")[0] != PACKAGE:
            top = module.split(".")[0]
            if top and top not in sys.stdlib_module_names:
                third.add(top)
            continue
        if seen.get(module, False) or (module in seen and not nested):
            continue
        path = _source(module) if _is_module(module) else None
        if path is None:
            continue
        seen[module] = nested
        parent = module.rpartition(".")[0]
        if parent:
            todo.append((parent, False))
        todo.extend((m, False) for m in _imports(path, module, nested=nested))
    return set(seen), third


def stage_code(modules: set[str], dest: Path) -> Path:
    """Copy the source files of ``modules`` under ``dest/imdbops/...``; returns the package
    folder, the one entry ``code_paths`` needs."""
    for module in sorted(modules):
        src = _source(module)
        assert src is not None, module
        rel = Path(*module.split("."))
        target = dest / (
            rel / "__init__.py" if src.name == "__init__.py" else rel.with_suffix(".py")
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    return dest / PACKAGE


@lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def pinned(packages: set[str]) -> list[str]:
    """``name==version`` for the distributions that provide the top-level ``packages``."""
    from importlib.metadata import PackageNotFoundError, version

    pins: dict[str, str] = {}
    for top in sorted(packages):
        for dist in _distributions().get(top, []):
            if dist.lower() == PACKAGE:
                continue
            try:
                pins[dist.lower()] = f"{dist}=={version(dist)}"
            except PackageNotFoundError:
                continue
    return sorted(pins.values(), key=str.lower)


def model_environment(model: Any, fmt: str, dest: Path) -> tuple[list[str], list[str]]:
    """``(code_paths, pip_requirements)`` for logging ``model`` serialized as ``fmt``; the
    code is staged under ``dest`` (a temporary folder the caller owns)."""
    modules = pickled_modules(model)
    own_roots = {m for m in modules if m.split(".")[0] == PACKAGE}
    third = {m.split(".")[0] for m in modules if m.split(".")[0] != PACKAGE}
    own, imported = code_closure(own_roots)
    third |= imported
    # The loader itself, and what MLflow's sklearn flavor imports around the model.
    third |= {fmt.replace("-", "_"), "sklearn", "numpy", "pandas", "scipy"}
    third = {t for t in third if t not in sys.stdlib_module_names and _is_module(t)}
    code_paths = [str(stage_code(own, dest))] if own else []
    return code_paths, pinned(third)
