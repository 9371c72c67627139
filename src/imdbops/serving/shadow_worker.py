"""The shadow process: scores the champion's records with the shadow versions, at idle priority.

Started by the serving process (``serving/shadow.py``) as
``python -m imdbops.serving.shadow_worker PRIORITY PIPE_FD SHARED_FD``, with its settings
pickled on stdin. It first drops to the lowest CPU priority (SCHED_IDLE: it runs only on CPU
the requests leave idle), then loads the shadow versions (``ModelSet``, following aliases
every ``serving.reload_poll_s``) and reads newline-delimited JSON records from the pipe.
Records are scored in batches of up to ``serving.shadow_batch_max`` rows, one model call per
shadow version; a smaller batch waits up to ``BATCH_WAIT_S`` for more. Each shadow record is
a copy of its champion record with the shadow's probability, label, version and model-call
latency, ``role = "shadow"``, written by ``PredictionLog`` to the shadow log
(``monitoring/shadow_log.py``): the same write-ahead guarantees, folder and shipping.

Counts go to the shared block (``serving/shadow_shared.py``). When the pipe ends (the
serving process closed it, or died) the child scores what it holds, closes the log (its
segments become Parquet) and exits; SIGTERM closes the log and exits at once. A line it
cannot read (the tail of a line a killed predecessor had half read) counts as one failed
record.
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import signal
import sys
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from imdbops.serving.shadow_shared import SharedBlock, lower_priority

# A batch smaller than serving.shadow_batch_max waits for more records this long (one model
# call per row would cost nearly as much per row as one per 100 rows).
BATCH_WAIT_S = 0.5
READ_BYTES = 1 << 20
# Seconds between two warnings about the same failing shadow model (the count is exact).
WARN_EVERY_S = 60.0


def build_models(cfg: Any, factory: str | None) -> Any:
    """The ``ModelSet`` to score with: the config's, or ``factory`` ("module:function",
    called with the config; tests use it for slow or failing models)."""
    if factory:
        module, _, name = factory.partition(":")
        return getattr(importlib.import_module(module), name)(cfg)
    from imdbops.serving.shadow_models import ModelSet

    return ModelSet(cfg, list(cfg.serving.shadow))


class Worker:
    def __init__(self, cfg: Any, models: Any, shared: SharedBlock, priority: str):
        from imdbops.log import get_logger
        from imdbops.monitoring.prediction_log import PredictionLog
        from imdbops.monitoring.shadow_log import shadow_log_config

        self.log = get_logger("serving.shadow")
        self.cfg = cfg
        self.models = models
        self.shared = shared
        self.priority = priority
        self.batch_max = int(cfg.serving.shadow_batch_max)
        self.poll_s = max(0.1, float(cfg.serving.reload_poll_s))
        self.plog = PredictionLog(shadow_log_config(cfg))
        self._warned_at: dict[str, float] = {}
        self._status: dict[str, Any] = {}

    def poll(self) -> None:
        self.models.poll()
        status = {
            "pid": os.getpid(),
            "priority": self.priority,
            "versions": {t: str(m.version) for t, m in self.models.current.items()},
            "load_errors": dict(self.models.errors),
        }
        if status != self._status:
            self.shared.write_status(status)
            self._status = status

    def run(self, fd: int) -> None:
        import msgspec

        decode = msgspec.json.Decoder().decode
        queue: deque[Mapping[str, Any]] = deque()
        tail = b""
        eof = False
        first_at = 0.0
        next_poll = time.monotonic() + self.poll_s
        while True:
            now = time.monotonic()
            if now >= next_poll:
                self.poll()
                next_poll = time.monotonic() + self.poll_s
            due = first_at + BATCH_WAIT_S if queue else next_poll
            if queue and (len(queue) >= self.batch_max or eof or now >= due):
                batch = [queue.popleft() for _ in range(min(self.batch_max, len(queue)))]
                self.shared.set("queued", len(queue))
                self.score(batch)  # what is left has waited long enough: next round
                continue
            if eof:
                return
            ready, _, _ = select.select([fd], [], [], max(0.0, min(due, next_poll) - now))
            if not ready:
                continue
            chunk = os.read(fd, READ_BYTES)
            if not chunk:
                eof = True
                continue
            *lines, tail = (tail + chunk).split(b"\n")
            if not queue:
                first_at = time.monotonic()
            bad = 0
            for line in lines:
                try:
                    record = decode(line)
                    if not isinstance(record, dict):
                        raise ValueError("not a record")
                except (ValueError, msgspec.DecodeError):
                    bad += 1
                    continue
                queue.append(record)
            self.shared.add("received", len(lines))
            self.shared.set("queued", len(queue))
            if bad:
                self.shared.add("failed", bad)
                self.shared.add("done", bad)
                self.log.warning("shadow process: %d unreadable record line(s) skipped", bad)

    def score(self, records: list[Mapping[str, Any]]) -> None:
        from imdbops.mlops.transform import to_model_frame
        from imdbops.movies import is_liked

        shared = self.shared
        try:
            frame = to_model_frame(records)
        except Exception as exc:  # noqa: BLE001 - the process must outlive any one batch
            shared.add("failed", len(records) * max(1, len(self.models.current)))
            shared.add("done", len(records))
            self._warn("inputs", exc)
            return
        for target, model in list(self.models.current.items()):
            started = time.perf_counter()
            try:
                probs = model.model.predict_proba(frame)[:, 1].tolist()
            except Exception as exc:  # noqa: BLE001 - a failing shadow never reaches a request
                shared.add("failed", len(records))
                self._warn(target, exc)
                continue
            latency_ms = (time.perf_counter() - started) * 1000.0
            version = str(model.version)
            rows = [
                {
                    **record,
                    "probability": p,
                    "label": int(is_liked(p)),
                    "model_version": version,
                    "latency_ms": latency_ms,
                    "role": "shadow",
                }
                for record, p in zip(records, probs, strict=True)
            ]
            try:
                self.plog.record(rows)
            except Exception as exc:  # noqa: BLE001
                shared.add("failed", len(records))
                self._warn(target, exc)
                continue
            shared.add("scored", len(rows))
        shared.add("batches", 1)
        shared.add("done", len(records))

    def _warn(self, target: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(target, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._warned_at[target] = now
            self.log.warning(
                "shadow %s failed (%s: %s); its records are counted as failed, answers are "
                "unaffected (%d failed so far)",
                target,
                type(exc).__name__,
                exc,
                self.shared.get("failed"),
            )


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: list[str]) -> int:
    priority, fd, shared_fd = argv[0], int(argv[1]), int(argv[2])
    applied = lower_priority(0, priority)  # first: even the imports run on idle CPU only
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    spec = pickle.load(sys.stdin.buffer)
    sys.path[:0] = [p for p in spec["sys_path"] if p not in sys.path]  # a test's factory
    cfg = spec["cfg"]
    if spec.get("logs_dir") is not None:
        from imdbops.log import setup_logging

        setup_logging(spec["logs_dir"], "shadow")
    shared = SharedBlock(shared_fd)
    worker = Worker(cfg, build_models(cfg, spec.get("factory")), shared, applied)
    try:
        worker.poll()  # models first: records wait in the pipe meanwhile
        worker.run(fd)
    finally:
        worker.plog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
