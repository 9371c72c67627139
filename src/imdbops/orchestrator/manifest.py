"""The run manifest: ``<runs_dir>/<run_id>/manifest.json``, rewritten atomically after each
task, so a crash or ``kill -9`` leaves the last consistent state behind for ``resume``."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from imdbops.atomic import atomic_write_json
from imdbops.provenance import git_commit

MANIFEST = "manifest.json"
PENDING, RUNNING, SUCCEEDED, SKIPPED, FAILED, UPSTREAM_FAILED, PARTIAL = (
    "pending",
    "running",
    "succeeded",
    "skipped",
    "failed",
    "upstream_failed",
    "partial",
)
DONE_STATES = {SUCCEEDED, SKIPPED}
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,200}$")


class ManifestError(ValueError):
    """A run id or manifest is unusable; the message says what to do."""


def now_iso() -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z"
    )


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise ManifestError(
            f"run id {run_id!r} is not valid: use letters, digits and . _ : + - only"
        )
    return run_id


class Manifest:
    """In-memory run state plus its atomic, thread-safe persistence."""

    def __init__(self, runs_dir: str | Path, data: dict[str, Any]) -> None:
        self.runs_dir = Path(runs_dir)
        self.data = data
        self._lock = threading.Lock()

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def path(self) -> Path:
        return self.runs_dir / self.run_id / MANIFEST

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        return self.data["tasks"]

    @classmethod
    def create(
        cls,
        runs_dir: str | Path,
        dag_name: str,
        task_names: list[str],
        run_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Manifest:
        run_id = check_run_id(run_id or new_run_id())
        data = {
            "run_id": run_id,
            "dag": dag_name,
            "status": RUNNING,
            "started_at": now_iso(),
            "finished_at": None,
            "pid": os.getpid(),
            "git_commit": git_commit(),
            "resumed": [],
            "order": list(task_names),
            **(meta or {}),
            "tasks": {name: {"state": PENDING} for name in task_names},
        }
        manifest = cls(runs_dir, data)
        manifest.save()
        return manifest

    @classmethod
    def load(cls, runs_dir: str | Path, run_id: str) -> Manifest:
        path = Path(runs_dir) / check_run_id(run_id) / MANIFEST
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(
                f"no run {run_id!r}: {path} does not exist; `imdbops pipeline status` lists runs"
            ) from None
        except json.JSONDecodeError as exc:
            raise ManifestError(f"manifest {path} is not valid JSON ({exc})") from None
        return cls(runs_dir, data)

    @classmethod
    def latest(cls, runs_dir: str | Path) -> Manifest | None:
        runs = list_runs(runs_dir)
        return cls.load(runs_dir, runs[-1]) if runs else None

    def update_task(self, name: str, **fields: Any) -> None:
        with self._lock:
            self.tasks.setdefault(name, {}).update(fields)
            self._save_locked()

    def update(self, **fields: Any) -> None:
        with self._lock:
            self.data.update(fields)
            self._save_locked()

    def save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        atomic_write_json(self.path, self.data)


def list_runs(runs_dir: str | Path) -> list[str]:
    """Run ids with a manifest, oldest first (by the manifest's start time)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = []
    for entry in runs_dir.iterdir():
        path = entry / MANIFEST
        if path.is_file():
            try:
                started = json.loads(path.read_text()).get("started_at") or ""
            except json.JSONDecodeError:
                started = ""
            found.append((started, path.stat().st_mtime, entry.name))
    return [name for *_, name in sorted(found)]
