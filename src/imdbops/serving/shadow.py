"""Shadow versions: other registered versions score every answered request, in another process.

``serving.shadow`` names versions ("7") or aliases ("challenger"). The serving process starts
one **shadow process** (``serving/shadow_worker.py``) at startup and stops it at shutdown; it
runs at the lowest CPU priority (Linux ``SCHED_IDLE``, else nice 19;
``serving.shadow_priority``), so it only gets the CPU the requests leave idle and never holds
the serving process's GIL. It loads the shadow versions itself, follows their aliases, scores
in batches and writes the shadow log (``monitoring/shadow_log.py``).

The request path's only cost is :meth:`ShadowScorer.submit`: the champion's log records,
encoded as JSON lines, in one ``os.write`` to a non-blocking pipe (its capacity raised to
``serving.shadow_pipe_bytes``). Records in flight (written and not yet finished by the child)
are bounded by ``serving.shadow_queue_max``; beyond it, or when the pipe is full, the new
records are **dropped and counted**, never waited for. The child's counts come back through a
shared memory block (``serving/shadow_shared.py``), read without a system call.

A supervisor thread notices a child that died, logs it, counts the records it held as lost
and starts another after a backoff (1 s doubling to 30 s; reset once a child lived a
minute). The pipe belongs to the serving process, so what was written while no child ran is
read by the next one. Nothing of this reaches a request: the answer and the champion's log
are the same with shadows on or off.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from imdbops.config import Config
from imdbops.log import LOGGER_NAME, get_logger
from imdbops.monitoring import wal
from imdbops.monitoring.log_parts import with_epoch_ts
from imdbops.serving.shadow_shared import SharedBlock, lower_priority

log = get_logger("serving.shadow")

SUPERVISE_S = 0.2  # how often the supervisor looks at the child
BACKOFF_S = (1.0, 30.0)  # first and longest wait before restarting a dead child
STEADY_S = 60.0  # a child that lived this long resets the backoff
STOP_WAIT_S = 30.0  # at shutdown, the child's time to score what it holds and close its log


def _pipe(capacity: int) -> tuple[int, int, int]:
    """A pipe (read end, non-blocking write end, its capacity in bytes)."""
    import fcntl

    r, w = os.pipe()
    os.set_blocking(w, False)
    size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if size is not None:
        try:
            fcntl.fcntl(w, size, capacity)
        except OSError:  # above /proc/sys/fs/pipe-max-size for an unprivileged user
            try:
                with open("/proc/sys/fs/pipe-max-size") as f:
                    fcntl.fcntl(w, size, min(capacity, int(f.read())))
            except (OSError, ValueError):
                pass
        return r, w, fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
    return r, w, 65536


class ShadowScorer:
    """The serving process's side: the pipe, the shadow process and its counts."""

    def __init__(self, cfg: Config, factory: str | None = None):
        s = cfg.serving
        self.cfg = cfg
        self.targets = list(dict.fromkeys(t.strip() for t in s.shadow if t.strip()))
        self.factory = factory  # "module:function" building the child's ModelSet (tests)
        self.enabled = bool(self.targets) and cfg.monitoring.enabled
        self.queue_max = int(s.shadow_queue_max)
        self.priority = s.shadow_priority
        self.submitted = 0  # records written to the pipe
        self.dropped = 0  # records not written: too many in flight, or the pipe was full
        self.lost = 0  # records a child died holding
        self.restarts = 0
        self.capacity = 0
        self.proc: subprocess.Popen | None = None
        self._pending = b""  # the rest of a partly written batch (a rare partial write)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._r = self._w = -1
        self._shared: SharedBlock | None = None
        self._started_at = 0.0
        self._backoff = BACKOFF_S[0]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        """The pipe, the shared block, the child and its supervisor (fast: no model here)."""
        if not self.enabled:
            return
        self._r, self._w, self.capacity = _pipe(int(self.cfg.serving.shadow_pipe_bytes))
        self._shared = SharedBlock()
        self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, name="shadow-supervisor", daemon=True
        )
        self._supervisor.start()

    def submit(self, records: list[Mapping[str, Any]]) -> None:
        """Hand champion log records to the shadow process (the request path: never waits)."""
        if not self.enabled or self._w < 0:
            return
        n = len(records)
        with self._lock:
            in_flight = self.submitted - self.lost - self._shared.get("done")
            if (self._pending and not self._flush()) or in_flight + n > self.queue_max:
                self.dropped += n
                return
            data = wal.encode_rows([with_epoch_ts(r) for r in records])
            try:
                written = os.write(self._w, data)
            except BlockingIOError:  # the pipe is full: the child is behind
                self.dropped += n
                return
            except OSError:
                self.dropped += n
                return
            if written < len(data):
                self._pending = data[written:]  # the line must be finished before another
            self.submitted += n

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the child finished every record handed to it (tests, benchmarks)."""
        if not self.enabled:
            return True
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._pending:
                    self._flush()
                done = not self._pending and self.submitted - self.lost <= self._shared.get("done")
            if done:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def close(self) -> None:
        """Stop: the pipe ends, the child scores what it holds, closes its log and exits."""
        if not self.enabled or self._w < 0:
            return
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        with self._lock:
            if self._pending:
                self._flush()
            os.close(self._w)
            self._w = -1
            idle = self.submitted - self.lost <= self._shared.get("done")
        proc = self.proc
        if proc is not None and idle:
            # Nothing to finish: an idle-class child still loading its models on a busy
            # machine could take long to read the end of the pipe.
            proc.terminate()
        if proc is not None:
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                log.warning("shadow process %s did not stop in %ss; terminating it",
                            proc.pid, STOP_WAIT_S)  # fmt: skip
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        os.close(self._r)
        self._r = -1

    def stats(self) -> dict[str, Any]:
        counts = self._shared.counts() if self._shared is not None else {}
        status = self._shared.read_status() if self._shared is not None else {}
        done = counts.get("done", 0)
        return {
            "targets": self.targets,
            "versions": status.get("versions", {}),
            "load_errors": status.get("load_errors", {}),
            "pid": self.pid,
            "priority": status.get("priority"),
            "restarts": self.restarts,
            "submitted": self.submitted,
            "queued": max(0, self.submitted - self.lost - done),
            "dropped": self.dropped,
            "lost": self.lost,
            "scored": counts.get("scored", 0),
            "failed": counts.get("failed", 0),
            "batches": counts.get("batches", 0),
        }

    # ---- the child ------------------------------------------------------------------
    def _flush(self) -> bool:
        """Write the rest of a partly written batch; True when nothing is left (under lock)."""
        try:
            written = os.write(self._w, self._pending)
        except OSError:
            return False
        self._pending = self._pending[written:]
        return not self._pending

    def _spawn(self) -> None:
        logs_dir = None
        if logging.getLogger(LOGGER_NAME).handlers:  # the server logs to files: so does the child
            logs_dir = self.cfg.paths.logs_dir
        spec = {"cfg": self.cfg, "factory": self.factory, "sys_path": sys.path,
                "logs_dir": logs_dir}  # fmt: skip
        cmd = [sys.executable, "-m", "imdbops.serving.shadow_worker", self.priority,
               str(self._r), str(self._shared.fd)]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, pass_fds=(self._r, self._shared.fd))
        # Also from here, so the priority holds as soon as start() returns (the child sets it
        # again first thing, for its threads).
        lower_priority(proc.pid, self.priority)
        try:
            proc.stdin.write(pickle.dumps(spec))  # settings, secrets included: never on disk
            proc.stdin.close()
        except OSError:  # the child died at once: the supervisor sees it
            pass
        self.proc = proc
        self._started_at = time.monotonic()
        log.info("shadow process %s started for %s", proc.pid, ", ".join(self.targets))

    def _supervise(self) -> None:
        restart_at = None
        while not self._stop.wait(SUPERVISE_S):
            with self._lock:
                if self._pending:
                    self._flush()
            if restart_at is not None:
                if time.monotonic() >= restart_at:
                    try:
                        self._spawn()
                    except OSError as exc:  # e.g. out of processes: try again later
                        log.warning("cannot start the shadow process (%s); retrying in %.0fs",
                                    exc, self._backoff)  # fmt: skip
                        restart_at = time.monotonic() + self._backoff
                        self._backoff = min(self._backoff * 2, BACKOFF_S[1])
                        continue
                    restart_at = None
                    self.restarts += 1  # after: a reader of the count sees the new pid
                continue
            code = self.proc.poll() if self.proc is not None else None
            if code is None:
                continue
            shared = self._shared
            held = max(0, shared.get("received") - shared.get("done"))
            with self._lock:
                self.lost += held
            shared.set("received", shared.get("done"))  # no child runs: the parent may write
            shared.set("queued", 0)
            if time.monotonic() - self._started_at >= STEADY_S:
                self._backoff = BACKOFF_S[0]
            log.warning(
                "shadow process %s exited with %s holding %d record(s) (counted as lost); "
                "restarting it in %.0fs. Answers are unaffected.",
                self.proc.pid, code, held, self._backoff,
            )  # fmt: skip
            restart_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, BACKOFF_S[1])


class ShadowCollector:
    """Prometheus counters of one app's shadow process, read from it at scrape time."""

    def __init__(self, scorer: ShadowScorer):
        self._scorer = scorer

    def describe(self):
        return list(self._families())

    def collect(self):
        yield from self._families(self._scorer.stats())

    @staticmethod
    def _families(stats: dict[str, Any] | None = None):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        records = CounterMetricFamily(
            "imdbops_shadow_records",
            "Champion records handed to the shadow versions, by outcome (scored counts once "
            "per shadow version; dropped: too many in flight or the pipe was full; failed: a "
            "shadow model raised; lost: held by a shadow process that died)",
            labels=["outcome"],
        )
        queued = GaugeMetricFamily(
            "imdbops_shadow_queue", "Records handed to the shadow process, not yet finished"
        )
        restarts = CounterMetricFamily(
            "imdbops_shadow_restarts", "Shadow processes restarted after dying"
        )
        info = GaugeMetricFamily(
            "imdbops_shadow_model_info",
            "Shadow versions loaded (value 1)",
            labels=["target", "version"],
        )
        if stats is not None:
            for outcome in ("submitted", "scored", "dropped", "failed", "lost"):
                records.add_metric([outcome], float(stats[outcome]))
            queued.add_metric([], float(stats["queued"]))
            restarts.add_metric([], float(stats["restarts"]))
            for target, version in stats["versions"].items():
                info.add_metric([target, version], 1.0)
        return records, queued, restarts, info
