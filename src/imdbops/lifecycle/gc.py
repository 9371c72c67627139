"""``imdbops gc``: plan what the retention settings let go, then remove it, safely.

Safe against a concurrent run: it holds the run lock of every DAG (the lock ``pipeline run``
takes, so either waits for the other), with run state on an object store also each DAG's
lease there (what a whole run on any machine holds), and the promotion lock (so a rollback
cannot point the champion at a version being archived).

Safe against a kill: the plan is written to ``<state_dir>/gc/journal.json`` (atomically)
before anything is removed, and cleared only when every item is gone. Each removal is
idempotent and leaves nothing half there (folders are renamed aside first; on an object
store the marker or header that makes a thing visible goes first). A gc that finds a
journal finishes it before planning anew, skipping any item that became needed since (a
run that started between the kill and the re-run may use it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from imdbops import clock
from imdbops.config import Config
from imdbops.failpoints import failpoint
from imdbops.lifecycle import data, logs, models, reports, runs, studies
from imdbops.lifecycle.items import (
    Found,
    Item,
    clear_journal,
    read_journal,
    sweep_trash,
    write_journal,
)
from imdbops.log import get_logger

log = get_logger("lifecycle.gc")

# Removal order: what the plan names least is removed first, the registry in the middle.
KINDS = (
    "run",
    "cache_record",
    "drift_report",
    "performance_report",
    "model_version",
    "artifact",
    "lake_snapshot",
    "dvc_object",
    "dvc_cache",
    "tuning_run",
    "study",
    "log_file",
)
LOCK_WAIT_S = 6 * 3600.0  # as long as a `pipeline task` waits for a run


@dataclass
class Plan:
    remove: list[Item] = field(default_factory=list)
    keep: set[tuple[str, str]] = field(default_factory=set)
    resumed: list[Item] = field(default_factory=list)  # from an interrupted gc's journal

    def by_kind(self) -> dict[str, list[Item]]:
        out: dict[str, list[Item]] = {}
        for item in self.remove:
            out.setdefault(item.kind, []).append(item)
        return out


def plan(cfg: Config, now: float | None = None) -> Plan:
    """What gc would remove now, and every (kind, target) it must keep."""
    now = time.time() if now is None else now
    refs = runs.Refs()
    parts: list[Found] = [runs.collect(cfg, refs), reports.collect(cfg)]
    found_models, kept_versions = models.collect(cfg, refs, now)
    kept_studies = studies.kept_studies(kept_versions, refs.studies)
    parts += [
        found_models,
        runs.collect_artifacts(cfg, refs, now),
        data.collect(cfg, data.kept_md5s(cfg, kept_versions, refs.md5s)),
        studies.collect(cfg, kept_studies),
        studies.collect_runs(cfg, kept_studies),
        logs.collect(cfg, now),
    ]
    result = Plan()
    for part in parts:
        result.remove += part.remove
        result.keep |= part.keep
    result.remove.sort(key=lambda i: (KINDS.index(i.kind), i.target))
    return result


_REMOVERS: dict[str, Callable[[Config, Item], None]] = {
    "run": runs.remove_run,
    "cache_record": runs.remove_record,
    "artifact": runs.remove_artifact,
    "drift_report": reports.remove,
    "performance_report": reports.remove,
    "model_version": models.archive,
    "lake_snapshot": data.remove,
    "dvc_object": data.remove,
    "dvc_cache": data.remove,
    "tuning_run": studies.remove_run,
    "study": studies.remove,
    "log_file": logs.remove,
}


@contextlib.contextmanager
def state_locks(cfg: Config, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """The locks a whole run takes, for every DAG: its run lock and, when run state lives
    on an object store (``paths.artifacts_url``), the store's lease, which runs on other
    machines take too; then the promotion lock."""
    from imdbops.mlops.promotion_lock import promotion_lock
    from imdbops.orchestrator.lease import LeaseHeldError, held
    from imdbops.orchestrator.lock import RunLockedError, run_lock
    from imdbops.run_state import state_store

    store = state_store(cfg)
    with contextlib.ExitStack() as stack:
        for dag in sorted(runs.dag_tasks()):
            try:
                stack.enter_context(run_lock(store.lock_path(dag), wait_s))
                if store.remote:
                    lease = store.lease(dag, ttl_s=cfg.pipeline.lease_ttl_s, wait_s=wait_s)
                    stack.enter_context(held(lease))
            except (RunLockedError, LeaseHeldError) as exc:
                raise RunLockedError(
                    f"gc waits for no running pipeline: {exc}; or `imdbops gc --wait SECONDS`"
                ) from None
        stack.enter_context(promotion_lock(cfg))
        failpoint("gc.locked")
        yield


def _sweep(cfg: Config) -> None:
    from imdbops.dataops.lake import open_lake
    from imdbops.dataops.load import LAKE_PREFIX

    runs.sweep(cfg)
    reports.sweep(cfg)
    lake = open_lake(cfg)
    if lake.is_local:
        sweep_trash(lake.path(LAKE_PREFIX))


def _execute(cfg: Config, items: list[Item], on_item: Callable[[Item], None] | None = None) -> None:
    for item in items:
        _REMOVERS[item.kind](cfg, item)
        if on_item:
            on_item(item)
        failpoint("gc.removed")


def run(
    cfg: Config,
    *,
    dry_run: bool = False,
    lock_wait_s: float = LOCK_WAIT_S,
    on_item: Callable[[Item], None] | None = None,
) -> Plan:
    """Plan, and unless ``dry_run`` remove; returns the plan (with ``resumed`` items)."""
    if dry_run:
        result = plan(cfg)
        result.resumed = [i for i in read_journal(cfg) or [] if i.key not in result.keep]
        again = {i.key for i in result.resumed}
        result.remove = [i for i in result.remove if i.key not in again]
        return result
    with state_locks(cfg, lock_wait_s):
        _sweep(cfg)
        pending = read_journal(cfg)
        result = plan(cfg)
        if pending is not None:
            # Finish the interrupted gc first, minus anything needed again since.
            result.resumed = [i for i in pending if i.key not in result.keep]
            skipped = len(pending) - len(result.resumed)
            log.info(
                "finishing an interrupted gc: %d item(s)%s",
                len(result.resumed),
                f", {skipped} needed again and kept" if skipped else "",
            )
            _execute(cfg, result.resumed, on_item)
            clear_journal(cfg)
            result = Plan(resumed=result.resumed, **_fresh(cfg))
        if result.remove:
            write_journal(cfg, result.remove, clock.now().isoformat())
            _execute(cfg, result.remove, on_item)
            clear_journal(cfg)
        log.info("gc removed %d item(s)", len(result.remove) + len(result.resumed))
    return result


def _fresh(cfg: Config) -> dict:
    again = plan(cfg)
    return {"remove": again.remove, "keep": again.keep}
