"""Version history of a tracked path: git history of its ``.dvc`` file, else a local index."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from imdbops import clock
from imdbops.atomic import atomic_write_json

INDEX_NAME = "versioning/versions.json"


@dataclass(frozen=True)
class Version:
    md5: str
    size: int
    when: str  # ISO-8601
    source: str  # "git" or "index"
    commit: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _index_path(cfg: Any) -> Path:
    return Path(cfg.paths.state_dir) / INDEX_NAME


def index_key(cfg: Any, path: Path) -> str:
    try:
        return path.resolve().relative_to(Path(cfg.paths.root)).as_posix()
    except ValueError:
        return str(path.resolve())


def _read_index(cfg: Any) -> dict[str, list[dict]]:
    path = _index_path(cfg)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"version index {path} is not valid JSON ({exc}); delete it to start a new one"
        ) from None


def record_version(cfg: Any, path: Path, md5: str, size: int) -> None:
    """Remember that ``path`` had content ``md5`` now (skipped when unchanged since last)."""
    index = _read_index(cfg)
    entries = index.setdefault(index_key(cfg, path), [])
    if entries and entries[-1]["md5"] == md5:
        return
    entries.append({"md5": md5, "size": size, "when": clock.now().isoformat()})
    atomic_write_json(_index_path(cfg), index)


def _git(folder: Path, *args: str) -> str | None:
    if shutil.which("git") is None:
        return None
    proc = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else None


def git_versions(dvc_file: Path) -> list[Version]:
    """One entry per commit that changed ``dvc_file``, newest first; [] outside git."""
    folder = dvc_file.parent
    if _git(folder, "rev-parse", "--is-inside-work-tree") is None:
        return []
    out = _git(folder, "log", "--format=%H%x1f%aI%x1f%s", "--", dvc_file.name) or ""
    versions = []
    for line in filter(None, out.splitlines()):
        commit, when, message = line.split("\x1f", 2)
        text = _git(folder, "show", f"{commit}:./{dvc_file.name}")
        if not text:
            continue  # the commit deleted the file
        data = yaml.safe_load(text) or {}
        for out_ in data.get("outs", [])[:1]:
            versions.append(
                Version(str(out_["md5"]), int(out_.get("size") or 0), when, "git", commit, message)
            )
    return versions


def index_versions(cfg: Any, path: Path) -> list[Version]:
    entries = _read_index(cfg).get(index_key(cfg, path), [])
    return [Version(e["md5"], e["size"], e["when"], "index") for e in reversed(entries)]
