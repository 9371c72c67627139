"""Run manifests, cache records and (with ``paths.artifacts_url``) artifact versions.

Kept: per DAG the newest ``retention.keep_runs`` runs, and every run that did not succeed
and is newer than that DAG's newest succeeded run (``pipeline resume`` continues it). Every
artifact version, model version, data object and study that a kept run or a current cache
record names is collected into :class:`Refs`, which the other owners never remove.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from imdbops.config import Config
from imdbops.lifecycle.items import Found, Item, local_size, remove_local, sweep_trash
from imdbops.orchestrator.store import MANIFEST, LocalStore, RemoteStore
from imdbops.run_state import state_store

RESUMABLE = ("running", "failed", "partial")


def dag_tasks() -> dict[str, tuple[str, ...]]:
    """Every DAG whose runs share the state store, with its task names."""
    from imdbops.pipelines import scoring, training

    return {
        training.DAG_NAME: tuple(training.TASK_NAMES),
        scoring.DAG_NAME: tuple(scoring.TASK_NAMES),
    }


@dataclass
class Refs:
    """What kept runs and current cache records name: never removed by any owner."""

    versions: set[str] = field(default_factory=set)
    md5s: set[str] = field(default_factory=set)
    artifacts: set[tuple[str, str]] = field(default_factory=set)  # (artifact, sha256)
    studies: set[str] = field(default_factory=set)

    def add_task(self, info: dict[str, Any]) -> None:
        for hashes in (info.get("input_hashes"), info.get("output_hashes")):
            for name, sha in (hashes or {}).items():
                if sha:
                    self.artifacts.add((name, str(sha)))
        external = info.get("external") or {}
        lake = external.get("lake_snapshot") or {}
        if lake.get("md5"):
            self.md5s.add(str(lake["md5"]))
        self.md5s.update(str(m) for m in (external.get("dvc_remote") or {}).get("objects") or {})
        for name in ("model_version", "champion_alias"):
            version = (external.get(name) or {}).get("version")
            if version is not None:
                self.versions.add(str(version))
        result = info.get("result")
        if isinstance(result, dict):
            if isinstance(result.get("study"), str):
                self.studies.add(result["study"])
            if isinstance(result.get("md5"), str):
                self.md5s.add(result["md5"])


@dataclass
class RunInfo:
    run_id: str
    dag: str
    status: str
    started_at: str
    data: dict[str, Any]


def _runs(store: LocalStore | RemoteStore) -> list[RunInfo]:
    found = []
    for started, _, run_id in store.run_headers():
        try:
            data = store.read_manifest(run_id)
        except ValueError:
            data = None
        if data is None:
            continue
        found.append(RunInfo(run_id, str(data.get("dag")), str(data.get("status")), started, data))
    return found


def _records(store: LocalStore | RemoteStore) -> list[tuple[str, str]]:
    """``(dag, task)`` of every cache record in the store."""
    if isinstance(store, LocalStore):
        root = store.cache_dir
        if not root.is_dir():
            return []
        return sorted(
            (d.name, f.name[: -len(".json")])
            for d in root.iterdir()
            if d.is_dir()
            for f in d.iterdir()
            if f.name.endswith(".json") and not f.name.startswith(".")
        )
    out = []
    for folder in store._ls("cache"):
        dag = folder.rstrip("/").rsplit("/", 1)[-1]
        for path in store._ls(f"cache/{dag}"):
            name = path.rsplit("/", 1)[-1]
            if name.endswith(".json") and ".tmp-" not in name:
                out.append((dag, name[: -len(".json")]))
    return out


def collect(cfg: Config, refs: Refs) -> Found:
    """Runs and cache records to remove; fills ``refs`` with what the kept ones name."""
    store = state_store(cfg)
    keep_n = cfg.retention.keep_runs
    found = Found()
    by_dag: dict[str, list[RunInfo]] = {}
    for run in _runs(store):
        by_dag.setdefault(run.dag, []).append(run)
    for dag, runs in sorted(by_dag.items()):
        runs.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
        succeeded = [r for r in runs if r.status == "succeeded"]
        newest_ok = succeeded[0].started_at if succeeded else ""
        for rank, run in enumerate(runs):
            resumable = run.status in RESUMABLE and run.started_at > newest_ok
            if rank < keep_n or resumable:
                found.keep.add(("run", run.run_id))
                for info in (run.data.get("tasks") or {}).values():
                    refs.add_task(info)
                continue
            why = f"{dag}: older than the newest {keep_n} runs (retention.keep_runs)"
            if run.status != "succeeded":
                why += f"; {run.status}, superseded by a later succeeded run"
            found.remove.append(_run_item(store, run.run_id, why))
    known = dag_tasks()
    for dag, task in _records(store):
        # A DAG imdbops does not define (another tool's on the same store) is not ours to trim.
        if dag not in known or task in known[dag]:
            record = store.load_record(dag, task)
            if record:
                refs.add_task(record)
            continue
        why = f"cache record of task {task!r}, which DAG {dag!r} no longer has"
        found.remove.append(_record_item(store, dag, task, why))
    return found


def _run_item(store: LocalStore | RemoteStore, run_id: str, why: str) -> Item:
    if isinstance(store, LocalStore):
        folder = store.runs_dir / run_id
        return Item("run", run_id, why, str(folder), local_size(folder))
    return Item("run", run_id, why, store.objects.url_for(f"runs/{run_id}"))


def _record_item(store: LocalStore | RemoteStore, dag: str, task: str, why: str) -> Item:
    if isinstance(store, LocalStore):
        path = store.cache_dir / dag / f"{task}.json"
        return Item("cache_record", f"{dag}/{task}", why, str(path), local_size(path))
    return Item("cache_record", f"{dag}/{task}", why, store.objects.url_for(f"cache/{dag}"))


def remove_run(cfg: Config, item: Item) -> None:
    store = state_store(cfg)
    if isinstance(store, LocalStore):
        remove_local(store.runs_dir / item.target)
        return
    # The header first: without it the run is no longer listed; its task objects follow.
    _rm(store, f"runs/{item.target}/{MANIFEST}")
    _rm(store, f"runs/{item.target}", recursive=True)


def remove_record(cfg: Config, item: Item) -> None:
    store = state_store(cfg)
    if isinstance(store, LocalStore):
        remove_local(store.cache_dir / f"{item.target}.json")
    else:
        _rm(store, f"cache/{item.target}.json")


def sweep(cfg: Config) -> None:
    store = state_store(cfg)
    if isinstance(store, LocalStore):
        sweep_trash(store.runs_dir)


# ---- artifact versions on the object store ------------------------------------------------
def collect_artifacts(cfg: Config, refs: Refs, now: float | None = None) -> Found:
    """Artifact versions under ``<artifacts_url>/artifacts`` that nothing kept names."""
    store = state_store(cfg)
    found = Found()
    if not isinstance(store, RemoteStore):
        return found  # local artifacts are the catalog's files: one version, in place
    now = time.time() if now is None else now
    min_age_s = cfg.retention.min_age_hours * 3600
    for folder in store._ls("artifacts"):
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        shas: dict[str, str] = {}
        for path in store._ls(f"artifacts/{name}"):
            entry = path.rstrip("/").rsplit("/", 1)[-1]
            if ".tmp-" in entry:
                continue
            sha = entry[: -len(".json")] if entry.endswith(".json") else entry
            shas.setdefault(sha, path)
        for sha, path in sorted(shas.items()):
            if (name, sha) in refs.artifacts:
                found.keep.add(("artifact", f"{name}/{sha}"))
                continue
            if min_age_s and now - _modified(store, path) < min_age_s:
                # A task on another machine (which takes no lock here) may be publishing it.
                found.keep.add(("artifact", f"{name}/{sha}"))
                continue
            found.remove.append(
                Item(
                    "artifact",
                    f"{name}/{sha}",
                    "no kept run and no cache record names this version",
                    store.objects.url_for(f"artifacts/{name}/{sha}"),
                )
            )
    return found


def _modified(store: RemoteStore, path: str) -> float:
    fs = store.objects.fs
    try:
        if fs.isdir(path):
            files = fs.find(path)
            path = files[0] if files else path
        return fs.modified(path).timestamp()
    except (OSError, NotImplementedError, ValueError):
        return 0.0


def remove_artifact(cfg: Config, item: Item) -> None:
    store = state_store(cfg)
    assert isinstance(store, RemoteStore), "artifact items exist only with paths.artifacts_url"
    # The completion marker first: a version without it is "not there" to every reader.
    _rm(store, f"artifacts/{item.target}.json")
    _rm(store, f"artifacts/{item.target}", recursive=True)


def _rm(store: RemoteStore, key: str, recursive: bool = False) -> None:
    path = store.objects.path(key)
    try:
        store.objects.fs.rm(path, recursive=recursive)
    except FileNotFoundError:
        pass
    store.objects.fs.invalidate_cache()
