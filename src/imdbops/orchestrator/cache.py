"""Content hashes of artifacts, task cache keys, and the per-task cache record.

A task's key = hash(parameters, content hashes of its inputs, hash of its code). A cached
result is reused only if the record's key matches *and* every output still exists and still
hashes to what the task wrote; anything else re-runs the task, and ``explain`` says why.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_path(path: str | Path) -> str | None:
    """Content hash of a file or a folder (names + contents, sorted); ``None`` if absent.

    Temporary files of in-flight atomic writes (``.name.*.tmp``) are ignored.
    """
    path = Path(path)
    if path.is_file():
        return hash_file(path)
    if not path.is_dir():
        return None
    digest = hashlib.sha256(b"dir\n")
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            if name.startswith(".") and name.endswith(".tmp"):
                continue
            full = Path(root, name)
            rel = full.relative_to(path).as_posix()
            digest.update(f"{rel}\0{hash_file(full)}\n".encode())
    return digest.hexdigest()


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"training": {"n_trials": 2}}`` -> ``{"training.n_trials": 2}`` (for explanations)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def cache_key(
    params_hash: str,
    input_hashes: Mapping[str, str],
    code_hash: str,
    external: Mapping[str, Any] | None = None,
) -> str:
    """``external``: the identity of every outside system the task writes to."""
    data: dict[str, Any] = {"params": params_hash, "inputs": input_hashes, "code": code_hash}
    if external:
        data["external"] = external
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:24]


def params_hash(params: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()[:24]


def explain_miss(
    previous: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    input_hashes: Mapping[str, str],
    code: Mapping[str, Any],
    external: Mapping[str, Any] | None = None,
) -> list[str]:
    """Why the key differs from the last successful execution, most specific first."""
    if previous is None:
        return ["no previous successful run"]
    reasons: list[str] = []
    old_ext = flatten(previous.get("external_identity", {}))
    new_ext = flatten(dict(external or {}))
    for key in sorted(set(old_ext) | set(new_ext)):
        if old_ext.get(key, "<unset>") != new_ext.get(key, "<unset>"):
            reasons.append(
                f"external output {key.split('.', 1)[0]} now lives elsewhere: "
                f"{key.split('.', 1)[-1]} {old_ext.get(key, '<unset>')!r} -> "
                f"{new_ext.get(key, '<unset>')!r}"
            )
    old_params, new_params = flatten(previous.get("params", {})), flatten(params)
    for key in sorted(set(old_params) | set(new_params)):
        if old_params.get(key, "<unset>") != new_params.get(key, "<unset>"):
            reasons.append(
                f"param {key} changed: {old_params.get(key, '<unset>')!r} -> "
                f"{new_params.get(key, '<unset>')!r}"
            )
    old_inputs = previous.get("input_hashes", {})
    for name in sorted(set(old_inputs) | set(input_hashes)):
        if old_inputs.get(name) != input_hashes.get(name):
            reasons.append(f"input {name} changed")
    if previous.get("code_hash") != code["hash"]:
        old_mods, new_mods = previous.get("code_modules", {}), code["modules"]
        changed = [
            m for m in sorted(set(old_mods) | set(new_mods)) if old_mods.get(m) != new_mods.get(m)
        ]
        reasons.append(
            "code changed: " + (", ".join(changed) if changed else "the task function itself")
        )
    return reasons or ["cache key changed"]


def verify_outputs(
    recorded: Mapping[str, str], paths: Mapping[str, Path]
) -> tuple[dict[str, str], list[str]]:
    """Re-hash outputs; returns (current hashes, problems such as 'output x missing')."""
    current: dict[str, str] = {}
    problems: list[str] = []
    for name, path in paths.items():
        digest = hash_path(path)
        if digest is None:
            problems.append(f"output {name} missing ({path})")
            continue
        current[name] = digest
        if recorded.get(name) != digest:
            problems.append(f"output {name} was changed since it was written ({path})")
    return current, problems
