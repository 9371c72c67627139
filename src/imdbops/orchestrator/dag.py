"""A DAG: tasks plus a catalog that maps artifact names to paths. Checked before anything runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from imdbops.orchestrator.catalog import External, Location
from imdbops.orchestrator.task import Task


class DagError(ValueError):
    """The graph is invalid; the message names the task and what to fix."""


class DAG:
    """Tasks and where their artifacts live.

    ``catalog`` maps every artifact name (inputs and outputs) to a path, a
    :class:`Location` (a path plus the named files inside it) or an :class:`External`
    (an output held by an outside system). Every entry needs exactly one producing task or
    must be a source. ``sources`` are the artifacts no task produces (they must exist when
    the run starts); ``source_hints`` says how to create a missing one (e.g. "run
    `imdbops warehouse build`").
    """

    def __init__(
        self,
        name: str,
        tasks: Iterable[Task],
        catalog: Mapping[str, str | Path],
        sources: Iterable[str] = (),
        source_hints: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.tasks: dict[str, Task] = {}
        duplicates = []
        for t in tasks:
            if t.name in self.tasks:
                duplicates.append(t.name)
            self.tasks[t.name] = t
        if duplicates:
            raise DagError(
                f"DAG {name!r}: duplicate task name(s) {sorted(set(duplicates))}; "
                "give every task a unique name"
            )
        self.externals: dict[str, External] = {
            k: v for k, v in catalog.items() if isinstance(v, External)
        }
        self.locations: dict[str, Location] = {
            k: v if isinstance(v, Location) else Location(k, Path(v))
            for k, v in catalog.items()
            if not isinstance(v, External)
        }
        self.catalog = {k: loc.path for k, loc in self.locations.items()}
        # What a task receives: the declared Location (path + named files) or a plain Path.
        self.arguments: dict[str, Path | Location] = {
            k: v if isinstance(v, Location) else Path(v)
            for k, v in catalog.items()
            if not isinstance(v, External)
        }
        self.sources = set(sources)
        self.source_hints = dict(source_hints or {})
        self.producer: dict[str, str] = {}
        self.validate()

    # ---- checks -----------------------------------------------------------------------
    def validate(self) -> None:
        problems: list[str] = []
        for t in self.tasks.values():
            for out in t.outputs:
                if out in self.producer and self.producer[out] != t.name:
                    external = out in self.externals
                    kind = "external output" if external else "artifact"
                    problems.append(
                        f"{kind} {out!r} is {'claimed' if external else 'written'} by both {self.producer[out]!r} and "
                        f"{t.name!r}; each {kind} needs exactly one producer: drop it from "
                        f"the outputs of one of them"
                    )
                elif out in self.sources:
                    problems.append(
                        f"task {t.name!r} writes {out!r}, which is declared as a source; "
                        "rename the output or drop it from sources"
                    )
                self.producer.setdefault(out, t.name)
        for t in self.tasks.values():
            for name in (*t.inputs, *t.outputs):
                if name not in self.catalog and name not in self.externals:
                    problems.append(
                        f"task {t.name!r}: artifact {name!r} has no path in the catalog; "
                        "add it to the catalog"
                    )
            for inp in t.inputs:
                if inp in self.externals:
                    problems.append(
                        f"task {t.name!r} reads external output {inp!r}; read the file its "
                        f"producer {self.producer.get(inp)!r} writes about it instead"
                    )
                if inp not in self.producer and inp not in self.sources:
                    problems.append(
                        f"task {t.name!r} reads {inp!r}, which no task writes and which is not "
                        f"a source; add a task that outputs {inp!r} or declare it as a source"
                    )
                if self.producer.get(inp) == t.name:
                    problems.append(f"task {t.name!r} reads its own output {inp!r}")
            for dep in t.after:
                if dep not in self.tasks:
                    problems.append(
                        f"task {t.name!r} runs after {dep!r}, which is not a task in this DAG; "
                        f"known tasks: {sorted(self.tasks)}"
                    )
        for name in sorted(set(self.catalog) | set(self.externals)):
            if name not in self.producer and name not in self.sources:
                problems.append(
                    f"catalog entry {name!r} names no producer: no task lists it in its "
                    "outputs; add it to the outputs of the task that writes it, declare it "
                    "as a source, or remove it from the catalog"
                )
        if problems:
            raise DagError(f"DAG {self.name!r} is invalid:\n  - " + "\n  - ".join(problems))
        cycle = self._find_cycle()
        if cycle:
            raise DagError(
                f"DAG {self.name!r} has a cycle: {' -> '.join(cycle)}; "
                "remove one of these dependencies"
            )

    def _find_cycle(self) -> list[str] | None:
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.tasks, white)
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            color[node] = grey
            stack.append(node)
            for nxt in sorted(self.downstream(node)):
                if color[nxt] == grey:
                    return stack[stack.index(nxt) :] + [nxt]
                if color[nxt] == white:
                    found = visit(nxt)
                    if found:
                        return found
            stack.pop()
            color[node] = black
            return None

        for node in self.tasks:
            if color[node] == white:
                found = visit(node)
                if found:
                    return found
        return None

    # ---- structure --------------------------------------------------------------------
    def upstream(self, name: str) -> set[str]:
        t = self.tasks[name]
        deps = {self.producer[i] for i in t.inputs if i in self.producer}
        return deps | set(t.after)

    def downstream(self, name: str) -> set[str]:
        return {n for n in self.tasks if name in self.upstream(n)}

    def edges(self) -> list[tuple[str, str]]:
        return [(u, n) for n in self.topological_order() for u in sorted(self.upstream(n))]

    def descendants(self, name: str) -> set[str]:
        seen: set[str] = set()
        todo = [name]
        while todo:
            for nxt in self.downstream(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def topological_order(self) -> list[str]:
        """Kahn's algorithm; ties keep declaration order so output is stable."""
        indeg = {n: len(self.upstream(n)) for n in self.tasks}
        ready = [n for n in self.tasks if indeg[n] == 0]
        order: list[str] = []
        while ready:
            node = ready.pop(0)
            order.append(node)
            for nxt in self.tasks:
                if node in self.upstream(nxt):
                    indeg[nxt] -= 1
                    if indeg[nxt] == 0:
                        ready.append(nxt)
        return order

    def check_task_names(self, names: Iterable[str], what: str) -> None:
        unknown = [n for n in names if n not in self.tasks]
        if unknown:
            raise DagError(
                f"{what}: unknown task(s) {unknown}; tasks in DAG {self.name!r}: "
                f"{', '.join(self.topological_order())}"
            )
