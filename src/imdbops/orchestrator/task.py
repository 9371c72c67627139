"""A task: a plain function with declared inputs, outputs and parameters.

Inputs and outputs are *artifact names*; the DAG's catalog maps each name to a file or
folder. The runner calls the function with one keyword argument per input and output (the
path), one per parameter, and any resource the function's signature asks for (e.g. ``cfg``).
Dependencies come from data (a task that reads ``x`` runs after the task that writes ``x``)
or, for pure ordering such as a validation gate, from ``after`` / ``a >> b``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Task:
    name: str
    fn: Callable[..., Any]
    # Artifact names, or ``{argument name: artifact name}`` when they differ.
    inputs: Iterable[str] | Mapping[str, str] = ()
    outputs: Iterable[str] | Mapping[str, str] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)
    retries: int = 0
    # Seconds before the first retry; doubles on each further attempt.
    retry_backoff_s: float = 0.5
    # With a timeout the task runs in its own process, so the runner can really stop it.
    timeout_s: float | None = None
    # Run in a child process even without a timeout (isolates crashes and memory).
    isolate: bool = False
    description: str = ""
    # Values passed to the function as keyword arguments that are not part of the cache key
    # (e.g. the task's read-only view of the configuration).
    resources: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.input_args = _as_args(self.inputs)
        self.output_args = _as_args(self.outputs)
        self.inputs = tuple(self.input_args.values())
        self.outputs = tuple(self.output_args.values())
        self.after = list(self.after)
        self.params = dict(self.params)
        self.resources = dict(self.resources)

    @property
    def in_subprocess(self) -> bool:
        return self.isolate or self.timeout_s is not None

    # ``a >> b``: b runs after a. Returns the right side so chains read left to right.
    def __rshift__(self, other: Task | Iterable[Task]) -> Task | list[Task]:
        targets = [other] if isinstance(other, Task) else list(other)
        for target in targets:
            if self.name not in target.after:
                target.after.append(self.name)
        return other if isinstance(other, Task) else targets

    def __rrshift__(self, other: Iterable[Task]) -> Task:
        for source in other:
            source >> self
        return self

    def __repr__(self) -> str:
        return f"Task({self.name!r})"


def _as_args(spec: Iterable[str] | Mapping[str, str]) -> dict[str, str]:
    if isinstance(spec, Mapping):
        return {str(k): str(v) for k, v in spec.items()}
    if isinstance(spec, str):
        raise TypeError(f"inputs/outputs must be a list of names, not the string {spec!r}")
    return {name: name for name in spec}


def task(
    name: str | None = None,
    *,
    inputs: Iterable[str] | Mapping[str, str] = (),
    outputs: Iterable[str] | Mapping[str, str] = (),
    params: Mapping[str, Any] | None = None,
    **options: Any,
) -> Callable[[Callable[..., Any]], Task]:
    """Decorator form: ``@task(inputs=["raw"], outputs=["clean"])`` turns a function into a Task."""

    def wrap(fn: Callable[..., Any]) -> Task:
        return Task(
            name=name or fn.__name__,
            fn=fn,
            inputs=inputs,
            outputs=outputs,
            params=dict(params or {}),
            **options,
        )

    return wrap
