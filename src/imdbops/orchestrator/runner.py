"""Run a DAG: topological order, independent tasks in parallel, retries, timeouts, caching,
and a manifest written after every task so a crashed run can resume."""

from __future__ import annotations

import inspect
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imdbops.failpoints import failpoint
from imdbops.log import get_logger
from imdbops.orchestrator import manifest as mf
from imdbops.orchestrator.cache import (
    cache_key,
    explain_miss,
    hash_path,
    params_hash,
    verify_outputs,
)
from imdbops.orchestrator.codehash import code_fingerprint
from imdbops.orchestrator.dag import DAG
from imdbops.orchestrator.lease import held
from imdbops.orchestrator.lock import run_lock
from imdbops.orchestrator.store import LocalStore, RemoteStore
from imdbops.orchestrator.task import Task
from imdbops.orchestrator.worker import TaskFailedError, run_in_subprocess

log = get_logger("orchestrator.runner")

Event = Callable[[str, str, Mapping[str, Any]], None]


class MissingInputError(FileNotFoundError):
    pass


@dataclass
class RunResult:
    manifest: mf.Manifest
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        return self.manifest.tasks

    def error_summary(self) -> str:
        lines = []
        for name in self.failed:
            info = self.tasks[name]
            lines.append(f"task {name!r} failed: {info.get('error')}")
        return "\n".join(lines)


class Runner:
    def __init__(
        self,
        dag: DAG,
        *,
        runs_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        workers: int = 2,
        resources: Mapping[str, Any] | None = None,
        code_packages: Iterable[str] | None = None,
        on_event: Event | None = None,
        lock_wait_s: float = 0.0,
        store: LocalStore | RemoteStore | None = None,
        lease_ttl_s: float | None = None,
    ) -> None:
        """``store``: where manifests, cache records (and, remote, artifacts) live; default
        the local folders ``runs_dir`` and ``cache_dir``.

        ``lock_wait_s``: how long a run waits for another run of the DAG (the local lock, and
        with a remote store its lease) before refusing. ``lease_ttl_s``: with a remote store,
        a whole-DAG run (not one ``only`` task) holds the store's lease, renewed, expiring
        this long after its holder died (orchestrator/lease.py); None takes no lease."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if store is None and (runs_dir is None or cache_dir is None):
            raise ValueError("give runs_dir and cache_dir, or a store")
        self.dag = dag
        self.store = store if store is not None else LocalStore(runs_dir, cache_dir)
        self.workers = workers
        self.resources = dict(resources or {})
        self.code_packages = tuple(code_packages) if code_packages else None
        self.on_event = on_event or (lambda *_: None)
        self.lock_wait_s = lock_wait_s
        self.lease_ttl_s = lease_ttl_s

    # ---- public API ---------------------------------------------------------------------
    def run(
        self,
        *,
        run_id: str | None = None,
        resume: bool = False,
        force: Iterable[str] = (),
        from_task: str | None = None,
        only: Iterable[str] | None = None,
        meta: Mapping[str, Any] | None = None,
        expected_inputs: Mapping[str, str] | None = None,
    ) -> RunResult:
        """``expected_inputs``: artifact -> sha256 reported by upstream tasks that ran
        elsewhere (Airflow's XCom); with a remote store, inputs are fetched at that version."""
        dag = self.dag
        self._expected = dict(expected_inputs or {})
        force = set(force)
        dag.check_task_names(force, "--force")
        if from_task:
            dag.check_task_names([from_task], "--from")
            force |= {from_task} | dag.descendants(from_task)
        selected = set(only) if only is not None else set(dag.tasks)
        dag.check_task_names(selected, "--only")
        order = [n for n in dag.topological_order() if n in selected]
        lease = None
        if self.store.remote and only is None and self.lease_ttl_s is not None:
            lease = self.store.lease(dag.name, ttl_s=self.lease_ttl_s, wait_s=self.lock_wait_s)
        with run_lock(self.store.lock_path(dag.name), self.lock_wait_s), held(lease):
            if lease is not None:
                self.store.fence = lease
            try:
                return self._run(order, selected, force, run_id, resume, meta)
            finally:
                if lease is not None:
                    self.store.fence = None

    def _run(self, order, selected, force, run_id, resume, meta) -> RunResult:
        dag = self.dag
        previous: dict[str, dict[str, Any]] = {}
        if resume:
            if not run_id:
                raise mf.ManifestError("resume needs the run id of the run to continue")
            manifest = mf.Manifest.load(self.store, run_id)
            previous = {k: dict(v) for k, v in manifest.tasks.items()}
            # A forced task the killed run had not finished is still forced: the force set
            # is part of the run (recorded below), not of the resume command line.
            recorded = set(manifest.data.get("force") or [])
            force = force | {
                n for n in recorded if previous.get(n, {}).get("state") != mf.SUCCEEDED
            }
            if force:
                manifest.data["force"] = sorted(force | recorded)
            manifest.data["resumed"].append(mf.now_iso())
            manifest.update(status=mf.RUNNING, finished_at=None, **(meta or {}))
        else:
            manifest = self._open_manifest(run_id, order, meta)
            if force:
                manifest.update(force=sorted(force))
        self._manifest = manifest
        self._hashes: dict[str, str] = {}
        self.on_event("run_started", manifest.run_id, {"order": order})

        states: dict[str, str] = {}
        futures: dict[Future, str] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="task") as pool:
            pending = list(order)
            while pending or futures:
                for name in list(pending):
                    ups = [u for u in dag.upstream(name) if u in selected]
                    if any(states.get(u) in (mf.FAILED, mf.UPSTREAM_FAILED) for u in ups):
                        pending.remove(name)
                        states[name] = mf.UPSTREAM_FAILED
                        bad = sorted(
                            u for u in ups if states.get(u) in (mf.FAILED, mf.UPSTREAM_FAILED)
                        )
                        manifest.update_task(
                            name, state=mf.UPSTREAM_FAILED, reasons=[f"upstream {bad} failed"]
                        )
                        self.on_event("task_upstream_failed", name, {})
                    elif all(states.get(u) in mf.DONE_STATES for u in ups):
                        pending.remove(name)
                        states[name] = mf.RUNNING
                        fut = pool.submit(self._execute, name, name in force, previous.get(name))
                        futures[fut] = name
                if not futures:
                    break
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for fut in done:
                    states[futures.pop(fut)] = fut.result()
        failed = [n for n in order if states.get(n) in (mf.FAILED, mf.UPSTREAM_FAILED)]
        # A run may cover part of the DAG (``only``, one Airflow task per invocation).
        complete = all(manifest.tasks.get(n, {}).get("state") in mf.DONE_STATES for n in dag.tasks)
        status = mf.FAILED if failed else (mf.SUCCEEDED if complete else mf.PARTIAL)
        manifest.update(status=status, finished_at=mf.now_iso())
        self.on_event("run_finished", manifest.run_id, {"failed": failed})
        return RunResult(manifest, [n for n in failed if states[n] == mf.FAILED] or failed)

    # ---- internals ----------------------------------------------------------------------
    def _open_manifest(
        self, run_id: str | None, order: list[str], meta: Mapping[str, Any] | None
    ) -> mf.Manifest:
        if run_id and mf.Manifest.exists(self.store, run_id):
            # Several invocations may share one run (Airflow runs one task per process).
            manifest = mf.Manifest.load(self.store, run_id)
            for name in order:
                manifest.tasks[name] = {"state": mf.PENDING}
            manifest.update(status=mf.RUNNING, finished_at=None, **(meta or {}))
            return manifest
        full_order = self.dag.topological_order()
        return mf.Manifest.create(self.store, self.dag.name, full_order, run_id, dict(meta or {}))

    def _input_hash(self, t: Task, name: str) -> str:
        if name in self._hashes:
            return self._hashes[name]
        path = self.dag.catalog[name]
        producer = self.dag.producer.get(name)
        # With a remote store a produced input is known by the version its producer
        # recorded (fetched only if the task runs); sources are hashed where they are.
        digest = self._recorded_version(name, producer) if producer else None
        if digest is None:
            digest = hash_path(path)
        if digest is None:
            fix = (
                f"run task {producer!r} first"
                if producer
                else self.dag.source_hints.get(name, "create it first")
            )
            raise MissingInputError(
                f"task {t.name!r}: input {name!r} does not exist at {path}; {fix}"
            )
        self._hashes[name] = digest
        return digest

    def _recorded_version(self, name: str, producer: str) -> str | None:
        if not self.store.remote:
            return None
        if name in self._expected:
            return self._expected[name]
        info = self._manifest.tasks.get(producer) or {}
        if info.get("state") in mf.DONE_STATES and name in (info.get("output_hashes") or {}):
            return info["output_hashes"][name]
        record = self.store.load_record(self.dag.name, producer) or {}
        return (record.get("output_hashes") or {}).get(name)

    def _execute(self, name: str, forced: bool, before: dict[str, Any] | None) -> str:
        t = self.dag.tasks[name]
        manifest = self._manifest
        started = time.time()
        info: dict[str, Any] = {"state": mf.RUNNING, "started_at": mf.now_iso(), "start": started}
        self.on_event("task_started", name, {})
        try:
            inputs = {i: self._input_hash(t, i) for i in t.inputs}
            code = code_fingerprint(t.fn, self.code_packages)
            p_hash = params_hash(t.params)
            externals = {o: self.dag.externals[o] for o in t.outputs if o in self.dag.externals}
            identity = {o: dict(e.identity) for o, e in externals.items()}
            key = cache_key(p_hash, inputs, code["hash"], identity)
            info.update(cache_key=key, params=t.params, input_hashes=inputs, code_hash=code["hash"])
            if identity:
                info["external_identity"] = identity
            out_paths = {o: self.dag.catalog[o] for o in t.outputs if o not in externals}
            skip_reason = self._skip_reason(
                t, key, forced, before, out_paths, code, inputs, externals, info
            )
            if isinstance(skip_reason, tuple):
                return self._finish(name, info, mf.SKIPPED, skip_reason[0], skip_reason[1])
            info["reasons"] = skip_reason
            # Recorded only now: a cache hit writes its state once (one object on a store).
            manifest.update_task(name, **info)
            self.store.fetch(
                {i: (self.dag.catalog[i], inputs[i]) for i in t.inputs if i in self.dag.producer},
                self.dag.producer,
            )
            result, attempts = self._run_with_retries(t)
            outputs, _ = verify_outputs({}, out_paths)
            missing = [
                f"output {o} missing ({p})" for o, p in out_paths.items() if o not in outputs
            ]
            if missing:
                raise RuntimeError(
                    f"task {name!r} finished but did not write its declared {'; '.join(missing)}; "
                    "write every declared output (atomically) or drop it from outputs"
                )
            records = _external_records(name, externals, result)
            info.update(attempts=attempts, result=_jsonable(result))
            if records:
                info["external"] = records
            # Published before the record names them: a record never points at nothing.
            self.store.publish({o: (out_paths[o], h) for o, h in outputs.items()})
            self.store.store_record(
                self.dag.name,
                name,
                {
                    "key": key,
                    "params": t.params,
                    "input_hashes": inputs,
                    "code_hash": code["hash"],
                    "code_modules": code["modules"],
                    "output_hashes": outputs,
                    "external_identity": identity,
                    "external": records,
                    "run_id": manifest.run_id,
                    "result": _jsonable(result),
                    "at": mf.now_iso(),
                },
            )
            return self._finish(name, info, mf.SUCCEEDED, outputs, info["reasons"])
        except (Exception, SystemExit) as exc:  # a step calling sys.exit() is a failure too
            tb = exc.child_traceback if isinstance(exc, TaskFailedError) else traceback.format_exc()
            message = (
                str(exc) if isinstance(exc, TaskFailedError) else f"{type(exc).__name__}: {exc}"
            )
            info.update(error=message, traceback=tb)
            info.setdefault("reasons", [])
            return self._finish(name, info, mf.FAILED, {}, info["reasons"])

    def _skip_reason(self, t, key, forced, before, out_paths, code, inputs, externals, info):
        """``(output_hashes, reasons)`` to skip, or a list of reasons to run.

        A hit needs the key to match, every file output to hash as recorded, and every
        external output to pass its check against the outside system. A check that cannot
        reach the system raises (the task fails naming the URL): never a silent hit or re-run.
        """
        if forced:
            return ["forced (--force/--from)"]
        if before and before.get("state") in mf.DONE_STATES and before.get("cache_key") == key:
            current, problems = self.store.verify_outputs(
                before.get("output_hashes", {}), out_paths
            )
            problems += self._check_externals(externals, before.get("external"), info)
            if not problems:
                return current, [f"finished in run {self._manifest.run_id} before resume"]
        record = self.store.load_record(self.dag.name, t.name)
        if record is None or record.get("key") != key:
            return explain_miss(record, t.params, inputs, code, info.get("external_identity"))
        current, problems = self.store.verify_outputs(record.get("output_hashes", {}), out_paths)
        if problems:
            return [f"stale cache: {p}" for p in problems]
        problems = self._check_externals(externals, record.get("external"), info)
        if problems:
            return problems
        if "result" in record:
            info["result"] = record["result"]
        return current, [f"cache hit (key {key[:12]}, from run {record.get('run_id')})"]

    def _check_externals(self, externals, records, info) -> list[str]:
        """Ask each outside system whether the recorded output is still there and unchanged."""
        if not externals:
            return []
        records = records or {}
        started = time.perf_counter()
        problems = []
        for name, ext in externals.items():
            if name not in records:
                problems.append(f"external output {name} was not recorded by the last run")
                continue
            problem = ext.run_check(records[name])
            if problem:
                problems.append(problem)
        info["external_check_s"] = round(time.perf_counter() - started, 4)
        if not problems:
            info["external"] = dict(records)
        return problems

    def _run_with_retries(self, t: Task) -> tuple[Any, int]:
        where = self.dag.arguments
        kwargs: dict[str, Any] = {arg: where[a] for arg, a in t.input_args.items()}
        kwargs.update(
            {arg: where.get(a) or self.dag.externals[a] for arg, a in t.output_args.items()}
        )
        kwargs.update(t.params)
        kwargs.update(t.resources)
        wanted = _accepted_names(t.fn)
        kwargs.update({k: v for k, v in self.resources.items() if wanted is None or k in wanted})
        errors = []
        for attempt in range(1, t.retries + 2):
            try:
                failpoint(f"task.{t.name}")
                if t.in_subprocess:
                    return run_in_subprocess(t.name, t.fn, kwargs, t.timeout_s), attempt
                return t.fn(**kwargs), attempt
            except Exception as exc:
                errors.append(f"attempt {attempt}: {type(exc).__name__}: {exc}")
                if attempt > t.retries:
                    raise
                try:
                    self._manifest.update_task(t.name, attempt_errors=errors)
                except OSError as lost:  # the store that failed the attempt may be down too:
                    # the retry goes on, and the attempt's own error stays the one reported
                    log.warning("could not record attempt %d of %s: %s", attempt, t.name, lost)
                self.on_event("task_retry", t.name, {"attempt": attempt, "error": str(exc)})
                time.sleep(t.retry_backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _finish(self, name, info, state, outputs, reasons) -> str:
        ended = time.time()
        self._hashes.update(outputs)
        info.update(
            state=state,
            output_hashes=outputs,
            reasons=reasons,
            decision={mf.SKIPPED: "skipped", mf.SUCCEEDED: "ran"}.get(state, "failed"),
            ended_at=mf.now_iso(),
            end=ended,
            duration_s=round(ended - info["start"], 4),
        )
        from imdbops.objectstore import ObjectStoreError

        try:
            self._manifest.update_task(name, **info)
        except ObjectStoreError as exc:
            if state != mf.FAILED:
                raise
            # The store that failed the task (a download) often fails this write too: the
            # task's own error comes first, else the user only learns of the manifest.
            raise ObjectStoreError(
                f"task {name!r} failed: {info.get('error')}; recording that failed too: {exc}"
            ) from None
        self.on_event(f"task_{state}", name, info)
        return state


def _external_records(task: str, externals: Mapping[str, Any], result: Any) -> dict[str, Any]:
    """What the task reported about each external output it declared (``result["external"]``)."""
    if not externals:
        return {}
    reported = result.get("external") if isinstance(result, Mapping) else None
    missing = [n for n in externals if not isinstance((reported or {}).get(n), Mapping)]
    if missing:
        raise RuntimeError(
            f"task {task!r} declares external output(s) {missing} but its result does not "
            f"report them; return {{'external': {{name: record}}}} for each, or drop them "
            "from the task's outputs"
        )
    return {n: dict(reported[n]) for n in externals}


def _accepted_names(fn: Callable[..., Any]) -> set[str] | None:
    """Keyword names ``fn`` accepts; ``None`` if it takes ``**kwargs`` (then it gets all)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _jsonable(value: Any) -> Any:
    import json

    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)[:500]
