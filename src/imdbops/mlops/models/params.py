"""Declared, validated hyper-parameters: a bad value fails at build time, naming the fix."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: a numeric range (``low``/``high``) or a set of ``choices``."""

    kind: type  # float, int, bool or str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = {int: "an integer", float: "a number"}.get(self.kind, self.kind.__name__)
        return f"{kind} in [{self.low}, {self.high}]"

    def check(self, name: str, value: Any) -> Any:
        bad = ValueError(f"parameter {name!r}={value!r} is invalid; allowed: {self.allowed()}")
        if self.choices is not None:
            if value not in self.choices:
                raise bad
            return value
        if isinstance(value, bool) and self.kind is not bool:
            raise bad
        if self.kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise bad
        elif self.kind is float:
            if not isinstance(value, int | float) or not math.isfinite(float(value)):
                raise bad
            value = float(value)
        if self.low is not None and value < self.low:
            raise bad
        if self.high is not None and value > self.high:
            raise bad
        return value


def validate_params(
    model: str, rules: Mapping[str, Param], defaults: Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, Any]:
    """Defaults overlaid with ``params``; unknown names or out-of-range values raise ValueError."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ValueError(
            f"params for model {model!r} must be a mapping, got {type(params).__name__}"
        )
    unknown = sorted(set(params) - set(rules))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for model {model!r}; "
            f"allowed: {', '.join(sorted(rules)) or '(none)'}"
        )
    merged = {**defaults, **params}
    return {name: rules[name].check(name, value) for name, value in merged.items()}
