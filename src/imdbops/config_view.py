"""A read-only view of the Config that holds only the keys a step declared.

The DAG gives each step such a view instead of the whole Config. Reading a key the step
did not declare raises :class:`UndeclaredConfigKeyError` at once, naming the step, the key
and where to declare it, so a step can never depend on a setting its cache key does not
see. Derived values (``tracking_uri``) are computed through the view, so they need the keys
they read to be declared too.

    view = ConfigView(cfg, ["training.seed", "paths"], owner="task 'split'",
                      hint="add it to TaskSpec('split') in src/imdbops/pipelines/training.py")
    view.training.seed      # ok
    view.training.n_trials  # UndeclaredConfigKeyError
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from imdbops.config import Config


class UndeclaredConfigKeyError(LookupError):
    """A step read a config key it did not declare (deliberately not an AttributeError,
    so ``getattr(cfg, name, default)`` cannot swallow it)."""


class ConfigView:
    """Attribute access like ``Config`` (``view.section.key``), limited to ``keys``.

    ``keys`` are ``"section"`` (every key of it) or ``"section.key"``.
    """

    __slots__ = ("_cfg", "_keys", "_owner", "_hint")

    def __init__(self, cfg: Config, keys: Iterable[str], owner: str, hint: str) -> None:
        if isinstance(cfg, ConfigView):
            cfg = cfg._cfg
        object.__setattr__(self, "_cfg", cfg)
        object.__setattr__(self, "_keys", frozenset(keys))
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_hint", hint)
        sections = set(Config.model_fields)
        for key in self._keys:
            section, _, name = key.partition(".")
            fields = Config.model_fields.get(section)
            if section not in sections or (
                name and name not in fields.annotation.model_fields  # type: ignore[union-attr]
            ):
                raise UndeclaredConfigKeyError(
                    f"{owner} declares config key {key!r}, which is not a setting; "
                    f"sections are: {', '.join(sorted(sections))}"
                )

    # ---- reads ----------------------------------------------------------------------
    def allows(self, section: str, name: str | None = None) -> bool:
        if section in self._keys:
            return True
        if name is None:
            return any(k.startswith(section + ".") for k in self._keys)
        return f"{section}.{name}" in self._keys

    def refuse(self, key: str) -> UndeclaredConfigKeyError:
        return UndeclaredConfigKeyError(
            f"{self._owner} read config key {key!r} without declaring it; {self._hint} "
            f"(declared: {', '.join(sorted(self._keys)) or 'none'})"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # pickle and copy probe dunders
        if name in Config.model_fields:
            if not self.allows(name):
                raise self.refuse(name)
            return _SectionView(self, name)
        attr = getattr(type(self._cfg), name, None)
        if isinstance(attr, property):
            return attr.fget(self)  # derived values read their keys through the view
        if name == "redacted":
            return self.redacted
        raise self.refuse(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{self._owner}: the configuration is read-only inside a step")

    def redacted(self) -> dict[str, Any]:
        """The declared keys only, secrets replaced (what a step may log about its config)."""
        data = self._cfg.redacted()
        out: dict[str, Any] = {}
        for key in sorted(self._keys):
            section, _, name = key.partition(".")
            if name:
                out.setdefault(section, {})[name] = data[section][name]
            else:
                out[section] = data[section]
        return out

    def __getstate__(self) -> tuple:
        return (self._cfg, self._keys, self._owner, self._hint)

    def __setstate__(self, state: tuple) -> None:
        for slot, value in zip(self.__slots__, state, strict=True):
            object.__setattr__(self, slot, value)

    def __repr__(self) -> str:
        return f"ConfigView({self._owner}, keys={sorted(self._keys)})"


class _SectionView:
    __slots__ = ("_view", "_section")

    def __init__(self, view: ConfigView, section: str) -> None:
        object.__setattr__(self, "_view", view)
        object.__setattr__(self, "_section", section)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        view, section = self._view, self._section
        real = getattr(view._cfg, section)
        if name not in type(real).model_fields:
            return getattr(real, name)  # pydantic/model helpers, not settings
        if not view.allows(section, name):
            raise view.refuse(f"{section}.{name}")
        value = getattr(real, name)
        # Mutable values are copied: a step cannot change what the next step reads.
        return copy.deepcopy(value) if isinstance(value, dict | list) else value

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(
            f"{self._view._owner}: the configuration is read-only inside a step "
            f"(tried to set {self._section}.{name})"
        )
