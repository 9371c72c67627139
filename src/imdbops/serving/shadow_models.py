"""Registered versions named by version or alias, loaded and kept following the aliases.

The shadow process (``serving/shadow_worker.py``) loads the ``serving.shadow`` versions with
it, and the serving process the canary's (``serving/canary.py``). ``poll()`` is called again
every ``serving.reload_poll_s``: when the gate moves the ``challenger`` alias, the new version
is loaded without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imdbops.config import Config
from imdbops.log import get_logger

log = get_logger("serving.shadow")


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
    """``current[target]`` is the loaded model (or absent); a failed load keeps the previous one."""

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
