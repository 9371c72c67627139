"""The model the app serves: loaded once, swapped atomically when the champion alias moves.

Requests read ``holder.current`` once and use that object for the whole batch, and a reload
builds the new model completely before one reference assignment replaces the old one, so no
request can see a half-loaded model. A failed load keeps the previous model serving.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imdbops.config import Config
from imdbops.log import get_logger

log = get_logger("serving.predictor")

NO_MODEL_HINT = "no champion model is registered yet; run `imdbops pipeline run` first"


@dataclass
class ReloadResult:
    changed: bool
    version: str | None
    previous: str | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "version": self.version,
            "previous_version": self.previous,
            "error": self.error,
        }


def _default_loader(cfg: Config):
    from imdbops.mlops.registry_read import load_champion  # no MLflow start on SQLite
    from imdbops.mlops.vocabulary import ensure_for_version

    loaded = load_champion(cfg)
    if loaded is not None and loaded.vocabulary is None:
        # Before the swap, so the model and the genres it knows go live together.
        loaded.vocabulary = ensure_for_version(cfg, loaded.version, loaded.tags, loaded.run_id)
    return loaded


def _default_alias(cfg: Config) -> str | None:
    from imdbops.mlops.registry_read import alias_version

    return alias_version(cfg, "champion")


# Young-generation collections run every this many new container objects (CPython: 700).
# A 100-row model call allocates thousands (DataFrames, sparse matrices), so the default
# triggers several collections per request for garbage that reference counting frees anyway.
GC_GEN0_THRESHOLD = 20_000


def settle_heap() -> None:
    """Move what is alive now (libraries, the model) out of the collector's sight.

    Without it, every full collection walks the ~1M objects MLflow, pandas and sklearn leave
    behind, a pause of tens of milliseconds at a random request: the p99 spikes. Called after
    each model swap: unfreeze first so a replaced model's cycles can still be collected.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gc.get_threshold()[0], GC_GEN0_THRESHOLD), gen1, gen2)


class ModelHolder:
    """Holds the served model (``current``) and knows how to replace it."""

    def __init__(
        self,
        cfg: Config,
        loader: Callable[[Config], Any] | None = None,
        alias_lookup: Callable[[Config], str | None] | None = None,
    ):
        self.cfg = cfg
        self._loader = loader or _default_loader
        self._alias_lookup = alias_lookup or _default_alias
        self.current: Any = None
        self.last_error: str | None = None
        self.failed_version: str | None = None
        self.loaded_at: float | None = None
        self.reloads = 0
        self.reload_failures = 0
        # The registry (MLflow) as the last alias poll found it: None while it answers, else
        # the error and since when. The loaded champion keeps serving meanwhile; the page and
        # /ready say so (docs/serving.md).
        self.registry_error: str | None = None
        self.registry_down_since: float | None = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str | None:
        model = self.current
        return None if model is None else str(model.version)

    def registry_state(self) -> dict[str, Any]:
        """Whether the last alias poll reached the registry (for /ready, /model, the page)."""
        return {
            "reachable": self.registry_error is None,
            "error": self.registry_error,
            "down_since": self.registry_down_since,
        }

    def not_ready_reason(self) -> str | None:
        if self.current is not None:
            return None
        if self.last_error:
            first_line = self.last_error.splitlines()[0][:300]
            return f"the champion model could not be loaded: {first_line}"
        return NO_MODEL_HINT

    def load(self) -> ReloadResult:
        """Load the champion now (startup, admin reload); keeps the old model on failure."""
        with self._lock:
            previous = self.version
            try:
                loaded = self._loader(self.cfg)
                if loaded is not None:
                    # Inside the try: a champion that loads but cannot predict is a failed
                    # load too (the old model keeps serving, the poller keeps polling).
                    self._warm_up(loaded)
            except Exception as exc:  # noqa: BLE001 - any load failure must keep serving
                self.reload_failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                try:
                    self.failed_version = self._alias_lookup(self.cfg)
                except Exception:  # noqa: BLE001
                    self.failed_version = None
                log.warning(
                    "loading the champion failed; still serving version %s: %s",
                    previous,
                    self.last_error,
                )
                return ReloadResult(False, previous, previous, self.last_error)
            if loaded is None:
                if previous is None:
                    self.last_error = None
                return ReloadResult(False, previous, previous, None if previous else NO_MODEL_HINT)
            self.current = loaded  # the atomic swap: one reference assignment
            settle_heap()
            self.loaded_at = time.time()
            self.last_error = None
            self.failed_version = None
            changed = str(loaded.version) != previous
            if changed:
                self.reloads += 1
                log.info("serving %s version %s (was %s)", loaded.name, loaded.version, previous)
            return ReloadResult(changed, str(loaded.version), previous)

    def poll(self) -> ReloadResult | None:
        """Cheap check of the alias; loads only when it points at a version not served yet.

        A version that failed to load is not retried by the poller (an admin reload does).
        """
        try:
            target = self._alias_lookup(self.cfg)
        except Exception as exc:  # noqa: BLE001 - a registry hiccup must not stop serving
            first = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            if self.registry_error is None:
                self.registry_down_since = time.time()
                log.warning(
                    "the model registry is unreachable (%s); still serving version %s, and "
                    "polling every %ss", first, self.version, self.cfg.serving.reload_poll_s,
                )  # fmt: skip
            self.registry_error = first
            return None
        if self.registry_error is not None:
            log.info("the model registry answers again")
            self.registry_error = self.registry_down_since = None
        if target is None:
            if self.current is None:
                self.last_error = None  # the registry answers: nothing to load yet, not broken
            return None
        if str(target) == self.version or str(target) == self.failed_version:
            return None
        return self.load()

    @staticmethod
    def _warm_up(loaded: Any) -> None:
        # One tiny prediction before the swap: lazy imports and caches are paid here, not by
        # the first request that reaches the new model.
        from imdbops.mlops.transform import to_model_frame

        frame = to_model_frame([{"title": "warm up", "genres": ["Drama"]}])
        loaded.model.predict_proba(frame)
