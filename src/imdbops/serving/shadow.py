"""Shadow versions: other registered versions score every answered request, off the hot path.

``serving.shadow`` names versions ("7") or aliases ("challenger"). The request path hands the
champion's log records to :meth:`ShadowScorer.submit` after they are logged: one append to a
bounded in-memory queue under a lock, nothing else. A background thread takes up to
``serving.shadow_batch_max`` queued records at a time, scores them with each shadow model in
one call per model, and writes the results to the shadow log (``monitoring/shadow_log.py``),
each record a copy of the champion's with the shadow's probability, label and version.

Records wait up to half a second to fill a batch (one model call per row would cost the
shadow nearly as much per row as one per 100). Shadow work yields to requests: it scores
only while the champion's batcher is idle (no model call running, no request waiting), in
batches of at most 256 rows by default (~30 ms of model time). While requests keep coming
(a model call ended less than a second ago) it also keeps to a share of the process's time,
``serving.shadow_cpu_share`` (10%): after a batch that took t seconds it rests
t * (1 - share) / share. Scoring is Python work under the GIL, so this share is what it can
take from the requests; on an idle server it catches up at full speed. So the shadows use
the server's spare capacity: at saturation they fall behind, the queue fills, and a full
queue (``serving.shadow_queue_max`` records) drops the new records and counts them
(``imdbops_shadow_records_total{outcome="dropped"}``). A shadow model that fails counts its
records as failed. Neither reaches the request: the answer and the champion's log are the
same with shadows on or off. The thread follows aliases (every ``serving.reload_poll_s``),
so a version the gate puts on ``challenger`` is shadowed without a restart.

The same model set serves the canary (``serving/canary.py``): the version ``serving.canary``
names is loaded and followed here too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.monitoring.prediction_log import PredictionLog
from imdbops.monitoring.shadow_log import shadow_log_config
from imdbops.movies import is_liked

log = get_logger("serving.shadow")

# Seconds between two warnings about the same failing shadow model (the count is exact).
WARN_EVERY_S = 60.0
# A batch smaller than serving.shadow_batch_max waits for more records this long.
BATCH_WAIT_S = 0.5
# How often the thread looks again whether the request path is idle.
YIELD_S = 0.005
# The request path counts as serving traffic when its last model call ended this recently.
TRAFFIC_S = 1.0
# One rest is at most this long (a batch slowed by a busy machine must not park the thread),
# and looks every REST_STEP_S whether the traffic stopped.
MAX_REST_S = 2.0
REST_STEP_S = 0.05


def _default_resolve(cfg: Config, target: str) -> str | None:
    """A version number as given; an alias looked up (None when it points nowhere)."""
    if target.isdigit():
        return target
    from imdbops.mlops.registry import alias_version

    return alias_version(cfg, target)


def _default_loader(cfg: Config, version: str) -> Any:
    from imdbops.mlops.registry import load_version

    return load_version(cfg, version)


class ModelSet:
    """Registered versions named by version or alias, loaded and kept following the aliases.

    ``current[target]`` is the loaded model (or absent); a failed load keeps the previous one.
    """

    def __init__(
        self,
        cfg: Config,
        targets: list[str],
        loader: Callable[[Config, str], Any] | None = None,
        resolve: Callable[[Config, str], str | None] | None = None,
    ):
        self.cfg = cfg
        self.targets = list(dict.fromkeys(t.strip() for t in targets if t.strip()))
        self._loader = loader or _default_loader
        self._resolve = resolve or _default_resolve
        self.current: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self._failed: dict[str, str] = {}  # target -> version that failed to load

    def poll(self) -> None:
        """Load what each target points at now, if not loaded yet (never raises)."""
        for target in self.targets:
            try:
                version = self._resolve(self.cfg, target)
            except Exception as exc:  # noqa: BLE001 - a registry hiccup keeps the old model
                log.debug("resolving shadow target %s failed: %s", target, exc)
                continue
            loaded = self.current.get(target)
            if version is None:
                self.current.pop(target, None)  # the alias was removed: stop scoring it
                continue
            if loaded is not None and str(loaded.version) == version:
                continue
            if self._failed.get(target) == version:
                continue
            try:
                model = self._loader(self.cfg, version)
                _warm_up(model)
            except Exception as exc:  # noqa: BLE001 - a bad version must not stop serving
                self._failed[target] = version
                self.errors[target] = f"{type(exc).__name__}: {exc}"
                log.warning("cannot load %s (version %s): %s", target, version, exc)
                continue
            self.current[target] = model  # one reference assignment: readers see old or new
            self.errors.pop(target, None)
            log.info("%s: version %s loaded", target, version)


def _warm_up(loaded: Any) -> None:
    from imdbops.mlops.transform import to_model_frame

    loaded.model.predict_proba(to_model_frame([{"title": "warm up", "genres": ["Drama"]}]))


class ShadowScorer:
    """The bounded queue, the scoring thread and the shadow log (see the module docstring)."""

    def __init__(
        self,
        cfg: Config,
        models: ModelSet | None = None,
        *,
        canary: ModelSet | None = None,
        idle_for: Callable[[], float] | None = None,
    ):
        s = cfg.serving
        self.cfg = cfg
        self.models = models or ModelSet(cfg, list(s.shadow))
        self.canary = canary
        # Seconds the request path has been idle (MicroBatcher.idle_for); 0: busy, wait.
        self._idle_for = idle_for
        self.cpu_share = float(s.shadow_cpu_share)
        self.enabled = bool(self.models.targets) and cfg.monitoring.enabled
        self.queue_max = int(s.shadow_queue_max)
        self.batch_max = int(s.shadow_batch_max)
        self.poll_s = max(0.1, float(s.reload_poll_s))
        self.submitted = 0
        self.dropped = 0
        self.scored = 0  # records written to the shadow log, over all shadow versions
        self.failed = 0  # records a shadow model could not score
        self.batches = 0
        self._queue: deque[Mapping[str, Any]] = deque()
        self._first_at = 0.0  # when the queue last went from empty to not empty
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._warned_at: dict[str, float] = {}
        self.log = PredictionLog(shadow_log_config(cfg)) if self.enabled else None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load the models once (the caller runs this off the event loop), then the thread."""
        for models in self._model_sets():
            models.poll()
        if self.enabled or self.canary is not None:
            self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
            self._thread.start()

    def submit(self, records: list[Mapping[str, Any]]) -> None:
        """Queue champion log records for the shadows (the request path: never blocks long)."""
        if not self.enabled:
            return
        n = len(records)
        with self._lock:
            if len(self._queue) + n > self.queue_max:
                self.dropped += n
                return
            if not self._queue:
                self._first_at = time.monotonic()
            self._queue.extend(records)
            self.submitted += n
            self._idle.clear()
        self._wake.set()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the queue is empty and the thread idle (tests, shutdown)."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.log is not None:
            self.log.close()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            queued = len(self._queue)
        return {
            "targets": self.models.targets,
            "versions": {t: str(m.version) for t, m in self.models.current.items()},
            "load_errors": dict(self.models.errors),
            "submitted": self.submitted,
            "queued": queued,
            "dropped": self.dropped,
            "scored": self.scored,
            "failed": self.failed,
            "batches": self.batches,
        }

    # ---- the background thread ------------------------------------------------------
    def _model_sets(self) -> list[ModelSet]:
        return [m for m in (self.models if self.enabled else None, self.canary) if m]

    def _run(self) -> None:
        next_poll = time.monotonic() + self.poll_s
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_poll - time.monotonic()))
            self._wake.clear()
            while not self._stop.is_set():
                if time.monotonic() >= next_poll:
                    for models in self._model_sets():
                        models.poll()
                    next_poll = time.monotonic() + self.poll_s
                with self._lock:
                    if not self._queue:
                        self._idle.set()
                        break
                    full = len(self._queue) >= self.batch_max
                    waited = time.monotonic() - self._first_at
                if not full and waited < BATCH_WAIT_S:
                    # One model call per row costs nearly as much as one per 100 rows.
                    self._stop.wait(BATCH_WAIT_S - waited)
                    continue
                idle = self._idle_for() if self._idle_for is not None else float("inf")
                if idle <= 0.0:
                    self._stop.wait(YIELD_S)  # requests first
                    continue
                with self._lock:
                    n = min(self.batch_max, len(self._queue))
                    batch = [self._queue.popleft() for _ in range(n)]
                started = time.monotonic()
                self._score(batch)
                if idle < TRAFFIC_S and self.cpu_share < 1.0:
                    spent = time.monotonic() - started
                    self._rest(spent * (1.0 - self.cpu_share) / self.cpu_share)
        with self._lock:
            self._idle.set()

    def _rest(self, seconds: float) -> None:
        """Rest up to ``seconds``, less if the traffic stops (then there is nothing to share)."""
        until = time.monotonic() + min(seconds, MAX_REST_S)
        while not self._stop.is_set() and (now := time.monotonic()) < until:
            if self._idle_for is not None and self._idle_for() >= TRAFFIC_S:
                return
            self._stop.wait(min(REST_STEP_S, until - now))

    def _score(self, records: list[Mapping[str, Any]]) -> None:
        from imdbops.mlops.transform import to_model_frame

        self.batches += 1
        try:
            frame = to_model_frame(records)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any one batch
            self.failed += len(records) * max(1, len(self.models.current))
            self._warn("inputs", exc)
            return
        for target, model in list(self.models.current.items()):
            started = time.perf_counter()
            try:
                probs = model.model.predict_proba(frame)[:, 1].tolist()
            except Exception as exc:  # noqa: BLE001 - a failing shadow never reaches a request
                self.failed += len(records)
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
                self.log.record(rows)
            except Exception as exc:  # noqa: BLE001
                self.failed += len(records)
                self._warn(target, exc)
                continue
            self.scored += len(rows)

    def _warn(self, target: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(target, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._warned_at[target] = now
            log.warning(
                "shadow %s failed (%s: %s); its records are counted as failed, answers are "
                "unaffected (%d failed so far)",
                target,
                type(exc).__name__,
                exc,
                self.failed,
            )


class ShadowCollector:
    """Prometheus counters of one app's shadow scorer, read from it at scrape time."""

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
            "per shadow version; dropped: the queue was full; failed: a shadow model raised)",
            labels=["outcome"],
        )
        queued = GaugeMetricFamily("imdbops_shadow_queue", "Records waiting for the shadows")
        info = GaugeMetricFamily(
            "imdbops_shadow_model_info",
            "Shadow versions loaded (value 1)",
            labels=["target", "version"],
        )
        if stats is not None:
            for outcome in ("submitted", "scored", "dropped", "failed"):
                records.add_metric([outcome], float(stats[outcome]))
            queued.add_metric([], float(stats["queued"]))
            for target, version in stats["versions"].items():
                info.add_metric([target, version], 1.0)
        return records, queued, info
