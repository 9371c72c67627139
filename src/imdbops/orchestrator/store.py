"""Where a DAG's state lives: run manifests, cache records, and (remote) the artifacts.

:class:`LocalStore` (the default) keeps manifests under ``runs_dir`` and cache records under
``cache_dir`` on this machine; artifacts stay where the catalog puts them.

:class:`RemoteStore` keeps all of it under one object-store URL (``s3://bucket/prefix``, any
fsspec URL), so a task started on another machine, in an empty folder, finds everything::

    runs/<run_id>/manifest.json       the run's header (no task states)
    runs/<run_id>/tasks/<task>.json   one object per task: parallel tasks on different
                                      workers never overwrite each other's state
    cache/<dag>/<task>.json           the task's last successful execution
    artifacts/<name>/<sha256>/...     each artifact version, content-addressed, immutable
    artifacts/<name>/<sha256>.json    written last: the version is complete

A task fetches its inputs by hash (verified before they are moved into place) and publishes
its outputs before its cache record names them, so a record never points at a missing or
half-written artifact. Every object is written under a temporary key and moved into place,
except on S3 and GCS, where one PUT is already all-or-nothing (an object appears whole when
its upload completes, a killed upload leaves none): there the temp + server-side copy +
delete (six requests through fsspec's ``mv``) would only make each write slower.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imdbops.atomic import atomic_write_json
from imdbops.failpoints import failpoint
from imdbops.orchestrator.cache import hash_path, verify_outputs

MANIFEST = "manifest.json"
# fsspec protocols whose single PUT is atomic (see the module docstring).
_WHOLE_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs"})


class ArtifactMissingError(FileNotFoundError):
    """An input's recorded version is not in the artifact store; names it and the fix."""


class LocalStore:
    """Run state in local folders; artifacts are the catalog's files themselves."""

    remote = False

    def __init__(self, runs_dir: str | Path, cache_dir: str | Path | None = None) -> None:
        self.runs_dir = Path(runs_dir)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else self.runs_dir / ".cache"

    def describe(self) -> str:
        return str(self.runs_dir)

    def lock_path(self, dag: str) -> Path:
        return self.cache_dir / f"{dag}.lock"

    # ---- manifests ----------------------------------------------------------------------
    def manifest_location(self, run_id: str) -> str:
        return str(self.runs_dir / run_id / MANIFEST)

    def read_manifest(self, run_id: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.runs_dir / run_id / MANIFEST).read_text())
        except FileNotFoundError:
            return None

    def write_manifest(self, data: Mapping[str, Any], task: str | None = None) -> None:
        atomic_write_json(self.runs_dir / data["run_id"] / MANIFEST, data)

    def run_headers(self) -> list[tuple[str, float, str]]:
        """``(started_at, mtime, run_id)`` of every run."""
        if not self.runs_dir.is_dir():
            return []
        found = []
        for entry in self.runs_dir.iterdir():
            path = entry / MANIFEST
            if path.is_file():
                try:
                    started = json.loads(path.read_text()).get("started_at") or ""
                except json.JSONDecodeError:
                    started = ""
                found.append((started, path.stat().st_mtime, entry.name))
        return found

    # ---- cache records ------------------------------------------------------------------
    def load_record(self, dag: str, task: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.cache_dir / dag / f"{task}.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def store_record(self, dag: str, task: str, record: Mapping[str, Any]) -> None:
        atomic_write_json(self.cache_dir / dag / f"{task}.json", dict(record))

    # ---- artifacts ----------------------------------------------------------------------
    def verify_outputs(
        self, recorded: Mapping[str, str], paths: Mapping[str, Path]
    ) -> tuple[dict[str, str], list[str]]:
        return verify_outputs(recorded, paths)

    def fetch(self, wanted: Mapping[str, tuple[Path, str]], producers: Mapping[str, str]) -> None:
        """Local artifacts are already in place (the runner hashed them)."""
        return None

    def publish(self, outputs: Mapping[str, tuple[Path, str]]) -> None:
        return None


class RemoteStore:
    """Run state and artifact versions under an fsspec URL (see the module docstring)."""

    remote = True

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, Any] | None = None,
        *,
        lock_dir: str | Path,
        setting: str = "paths.artifacts_url",
    ) -> None:
        from imdbops.objectstore import ObjectStore

        self.url = url.rstrip("/")
        self.objects = ObjectStore(self.url, dict(storage_options or {}), setting=setting)
        self.lock_dir = Path(lock_dir)
        protocol = self.objects.fs.protocol
        protocols = {protocol} if isinstance(protocol, str) else set(protocol)
        self._whole_put = bool(protocols & _WHOLE_PUT_PROTOCOLS)
        # s3fs asks for the size (a HEAD) before every GET unless told not to split it.
        self._cat_options = {"max_concurrency": 1} if protocols & {"s3", "s3a"} else {}
        # Run-state objects as this process last read or wrote them: rewriting one with the
        # same bytes costs a round trip and could overwrite another worker's newer state.
        self._known: dict[str, bytes] = {}
        # The whole-run lease while a run holds it: every manifest and cache-record write
        # first checks that no later holder took it over (the fencing token).
        self.fence: Any = None

    def describe(self) -> str:
        return self.url

    def lock_path(self, dag: str) -> Path:
        # One run at a time per machine (this lock); across machines, a whole run holds the
        # store's lease (lease()); tasks of one run write separate objects.
        return self.lock_dir / f"{dag}.lock"

    def lease(self, dag: str, *, ttl_s: float, wait_s: float):
        """The whole-run lease of ``dag`` in this store (see orchestrator/lease.py)."""
        from imdbops.orchestrator.lease import StoreLease

        return StoreLease(
            self.objects, dag, ttl_s=ttl_s, wait_s=wait_s, setting=self.objects.setting
        )

    def _fenced(self) -> None:
        if self.fence is not None:
            self.fence.check()

    def _json(self, key: str, remember: bool = False) -> dict[str, Any] | None:
        try:
            if self._whole_put:
                body = self._cat(key)  # one GET (open() would HEAD first)
            else:
                body = self.objects.read_bytes(key)
        except FileNotFoundError:
            return None
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.objects.url_for(key)} is not valid JSON ({exc})") from None
        if remember:
            self._known[key] = _json_body(data)
        return data

    def _cat(self, key: str) -> bytes:
        from imdbops.objectstore import ObjectStoreError, store_errors

        try:
            return self.objects.fs.cat_file(self.objects.path(key), **self._cat_options)
        except FileNotFoundError:
            raise
        except store_errors() as exc:
            raise ObjectStoreError(f"cannot read {self.objects.url_for(key)}: {exc}") from None

    def _put(self, key: str, data: bytes | None = None, local: Path | None = None) -> None:
        """Write one object whole: a single PUT where that is atomic, else temp + move."""
        if not self._whole_put:
            if local is not None:
                self.objects.put_file(local, key, point="store.put")
            else:
                self.objects.put_bytes(key, data or b"")
            return
        from imdbops.objectstore import ObjectStoreError, store_errors

        failpoint("store.put")
        path = self.objects.path(key)
        try:
            if local is not None:
                self.objects.fs.put_file(str(local), path)
            else:
                self.objects.fs.pipe_file(path, data or b"")
        except store_errors() as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise ObjectStoreError(
                f"cannot write {self.objects.url_for(key)}: {reason}; check that "
                f"{self.objects.setting} is writable and that credentials are set in the "
                "environment"
            ) from None

    def _ls(self, key: str) -> list[str]:
        """Object names under ``key``, as other machines left them (no listing cache)."""
        path = self.objects.path(key)
        self.objects.fs.invalidate_cache(path)
        from imdbops.objectstore import ObjectStoreError, store_errors

        try:
            return sorted(self.objects.fs.ls(path, detail=False))
        except FileNotFoundError:
            return []
        except store_errors() as exc:
            raise ObjectStoreError(f"cannot list {self.objects.url_for(key)}: {exc}") from None

    def _put_json(self, key: str, data: Mapping[str, Any], skip_known: bool = False) -> None:
        body = _json_body(data)
        if skip_known and self._known.get(key) == body:
            return
        self._put(key, body)
        if skip_known:
            self._known[key] = body

    # ---- manifests ----------------------------------------------------------------------
    def manifest_location(self, run_id: str) -> str:
        return self.objects.url_for(f"runs/{run_id}/{MANIFEST}")

    def read_manifest(self, run_id: str) -> dict[str, Any] | None:
        header = self._json(f"runs/{run_id}/{MANIFEST}")
        if header is None:
            return None
        tasks: dict[str, dict[str, Any]] = {n: {"state": "pending"} for n in header["order"]}
        for path in self._ls(f"runs/{run_id}/tasks"):
            name = path.rsplit("/", 1)[-1]
            if name.endswith(".json") and ".tmp-" not in name:
                key = f"runs/{run_id}/tasks/{name}"
                tasks[name[: -len(".json")]] = self._json(key, remember=True) or {}
        header["tasks"] = tasks
        if header.get("status") in ("partial", "succeeded", "failed"):
            # Each worker wrote the status it saw; the task objects are the truth.
            states = {info.get("state") for info in tasks.values()}
            header["status"] = (
                "failed"
                if states & {"failed", "upstream_failed"}
                else "succeeded"
                if states <= {"succeeded", "skipped"}
                else "partial"
            )
        return header

    def write_manifest(self, data: Mapping[str, Any], task: str | None = None) -> None:
        self._fenced()
        run_id = data["run_id"]
        if task is not None:
            failpoint(f"store.manifest.{data['tasks'][task].get('state')}")
            self._put_json(f"runs/{run_id}/tasks/{task}.json", data["tasks"][task], True)
            return
        header = {k: v for k, v in data.items() if k != "tasks"}
        self._put_json(f"runs/{run_id}/{MANIFEST}", header, True)
        for name, info in data["tasks"].items():
            if info.get("state") != "pending":
                # Unchanged since this process read or wrote it: skipped (see _known).
                self._put_json(f"runs/{run_id}/tasks/{name}.json", info, True)

    def run_headers(self) -> list[tuple[str, float, str]]:
        found = []
        for entry in self._ls("runs"):
            run_id = entry.rstrip("/").rsplit("/", 1)[-1]
            header = self._json(f"runs/{run_id}/{MANIFEST}")
            if header is not None:
                found.append((header.get("started_at") or "", 0.0, run_id))
        return found

    # ---- cache records ------------------------------------------------------------------
    def load_record(self, dag: str, task: str) -> dict[str, Any] | None:
        try:
            return self._json(f"cache/{dag}/{task}.json")
        except ValueError:
            return None  # a damaged record is a miss, as locally

    def store_record(self, dag: str, task: str, record: Mapping[str, Any]) -> None:
        self._fenced()
        self._put_json(f"cache/{dag}/{task}.json", record)

    # ---- artifacts ----------------------------------------------------------------------
    def _marker(self, name: str, sha: str) -> str:
        return f"artifacts/{name}/{sha}.json"

    def verify_outputs(
        self, recorded: Mapping[str, str], paths: Mapping[str, Path]
    ) -> tuple[dict[str, str], list[str]]:
        """The recorded versions must be in the store (local copies do not matter here)."""
        current, problems = {}, []
        for name in paths:
            sha = recorded.get(name)
            if sha and self.objects.exists(self._marker(name, sha)):
                current[name] = sha
            else:
                problems.append(
                    f"output {name} missing ({self.objects.url_for(f'artifacts/{name}')})"
                )
        return current, problems

    def publish(self, outputs: Mapping[str, tuple[Path, str]]) -> None:
        """Upload each output version (files first, the completion marker last)."""
        for name, (path, sha) in outputs.items():
            marker = self._marker(name, sha)
            if self.objects.exists(marker):
                continue  # content-addressed: the same bytes are already there
            path = Path(path)
            if path.is_dir():
                files = [
                    p.relative_to(path).as_posix()
                    for p in sorted(path.rglob("*"))
                    if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp"))
                ]
                kind = "dir"
            else:
                files, kind = [path.name], "file"
            for rel in files:
                src = path / rel if kind == "dir" else path
                self._put(f"artifacts/{name}/{sha}/{rel}", local=src)
            self._put_json(marker, {"artifact": name, "sha256": sha, "kind": kind, "files": files})

    def fetch(self, wanted: Mapping[str, tuple[Path, str]], producers: Mapping[str, str]) -> None:
        """Bring each input's recorded version to its local path, verified by its hash."""
        for name, (path, sha) in wanted.items():
            path = Path(path)
            if hash_path(path) == sha:
                continue
            marker = self._json(self._marker(name, sha))
            if marker is None:
                fix = f"re-run task {producers[name]!r}" if name in producers else "create it"
                raise ArtifactMissingError(
                    f"input {name!r} version {sha[:12]} is not in {self.objects.url_for('artifacts/' + name)}; "
                    f"{fix} (its outputs are published there when it finishes)"
                )
            self._download(name, sha, marker, path)

    def _download(self, name: str, sha: str, marker: Mapping[str, Any], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            for rel in marker["files"]:
                dest = tmp / rel if marker["kind"] == "dir" else tmp
                dest.parent.mkdir(parents=True, exist_ok=True)
                failpoint("store.get")
                self.objects.get_file(f"artifacts/{name}/{sha}/{rel}", dest)
            if marker["kind"] == "dir" and not marker["files"]:
                tmp.mkdir()
            got = hash_path(tmp)
            if got != sha:
                raise ValueError(
                    f"artifact {name!r} from {self.objects.url_for(f'artifacts/{name}/{sha}')} "
                    f"hashes to {got}, not {sha}: the stored copy is damaged; re-run its task"
                )
            _swap_into_place(tmp, path)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists():
                tmp.unlink()


def _json_body(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode()


def _swap_into_place(tmp: Path, path: Path) -> None:
    """Replace ``path`` (file or folder) by ``tmp``; a folder goes aside first."""
    if path.is_dir() and not path.is_symlink():
        old = path.parent / f".{path.name}.{uuid.uuid4().hex}.old.tmp"
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)
