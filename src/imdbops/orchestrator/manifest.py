"""The run manifest: ``<runs_dir>/<run_id>/manifest.json`` (or its objects in a
:class:`~imdbops.orchestrator.store.RemoteStore`), rewritten atomically after each task, so a
crash or ``kill -9`` leaves the last consistent state behind for ``resume``."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.orchestrator.store import LocalStore, RemoteStore
from imdbops.provenance import git_commit

Store = LocalStore | RemoteStore
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
    # The product's clock (IMDBOPS_NOW in a replay): run ids sort by it and stamps read back.
    now = clock.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock.time())) + "-" + uuid.uuid4().hex[:6]


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise ManifestError(
            f"run id {run_id!r} is not valid: use letters, digits and . _ : + - only"
        )
    return run_id


def as_store(where: str | Path | Store) -> Store:
    """A store as given, or the local store of a runs folder."""
    return where if isinstance(where, LocalStore | RemoteStore) else LocalStore(where)


class Manifest:
    """In-memory run state plus its atomic, thread-safe persistence."""

    def __init__(self, where: str | Path | Store, data: dict[str, Any]) -> None:
        self.store = as_store(where)
        self.data = data
        self._lock = threading.Lock()

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def path(self) -> Path | str:
        """The manifest file (a URL in a remote store)."""
        where = self.store.manifest_location(self.run_id)
        return where if self.store.remote else Path(where)

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        return self.data["tasks"]

    @classmethod
    def create(
        cls,
        where: str | Path | Store,
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
        manifest = cls(where, data)
        manifest.save()
        return manifest

    @classmethod
    def exists(cls, where: str | Path | Store, run_id: str) -> bool:
        return as_store(where).read_manifest(check_run_id(run_id)) is not None

    @classmethod
    def load(cls, where: str | Path | Store, run_id: str) -> Manifest:
        store = as_store(where)
        location = store.manifest_location(check_run_id(run_id))
        try:
            data = store.read_manifest(run_id)
        except ValueError as exc:
            raise ManifestError(f"manifest {location} is not valid JSON ({exc})") from None
        if data is None:
            raise ManifestError(
                f"no run {run_id!r}: {location} does not exist; `imdbops pipeline status` lists runs"
            )
        return cls(store, data)

    @classmethod
    def latest(cls, where: str | Path | Store) -> Manifest | None:
        runs = list_runs(where)
        return cls.load(where, runs[-1]) if runs else None

    def update_task(self, name: str, **fields: Any) -> None:
        with self._lock:
            self.tasks.setdefault(name, {}).update(fields)
            self.store.write_manifest(self.data, task=name)

    def update(self, **fields: Any) -> None:
        with self._lock:
            self.data.update(fields)
            self._save_locked()

    def save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        self.store.write_manifest(self.data)


def list_runs(where: str | Path | Store) -> list[str]:
    """Run ids with a manifest, oldest first (by the manifest's start time)."""
    return [name for *_, name in sorted(as_store(where).run_headers())]
