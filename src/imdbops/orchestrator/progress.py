"""Live progress while a DAG runs: a rich table of task states (or plain lines off a TTY)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

_STYLE = {
    "pending": ("dim", "·"),
    "running": ("cyan", "▶"),
    "succeeded": ("green", "✔"),
    "skipped": ("bright_black", "↷"),
    "failed": ("red", "✘"),
    "upstream_failed": ("yellow", "⊘"),
}


class LiveProgress:
    """Use as ``on_event`` of a Runner inside ``with LiveProgress(order):``."""

    def __init__(self, order: list[str], title: str = "pipeline", live: bool | None = None):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.order = list(order)
        self.title = title
        self.state = dict.fromkeys(order, "pending")
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.note: dict[str, str] = {}
        self.live_enabled = self.console.is_terminal if live is None else live
        self._lock = threading.Lock()
        self._live = None

    def __enter__(self) -> LiveProgress:
        if self.live_enabled:
            from rich.live import Live

            self._live = Live(
                get_renderable=self._table, console=self.console, refresh_per_second=8
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def __call__(self, event: str, name: str, info: Mapping[str, Any]) -> None:
        with self._lock:
            if event == "run_started":
                self.order = list(info.get("order", self.order))
                for n in self.order:
                    self.state.setdefault(n, "pending")
                return
            if name not in self.state:
                return
            if event == "task_started":
                self.state[name] = "running"
                self.started[name] = time.monotonic()
            elif event == "task_retry":
                self.note[name] = f"retry after attempt {info.get('attempt')}"
            elif event.startswith("task_"):
                self.state[name] = event.removeprefix("task_")
                self.ended[name] = time.monotonic()
                reasons = info.get("reasons") or []
                self.note[name] = info.get("error") or (reasons[0] if reasons else "")
            else:
                return
        if self._live is None and event != "task_started":
            self._line(name)

    def _line(self, name: str) -> None:
        style, mark = _STYLE[self.state[name]]
        self.console.print(
            f"[{style}]{mark} {name:<20} {self.state[name]:<16}[/] {self._elapsed(name):>7} "
            f"{self.note.get(name, '')}",
            highlight=False,
            markup=True,
        )

    def _elapsed(self, name: str) -> str:
        if name not in self.started:
            return ""
        end = self.ended.get(name, time.monotonic())
        return f"{end - self.started[name]:.1f}s"

    def _table(self):
        from rich.table import Table

        done = sum(s in ("succeeded", "skipped") for s in self.state.values())
        table = Table(title=f"{self.title}: {done}/{len(self.order)} done", expand=False)
        table.add_column("task")
        table.add_column("state")
        table.add_column("time", justify="right")
        table.add_column("why", overflow="fold", max_width=70)
        with self._lock:
            for name in self.order:
                style, mark = _STYLE[self.state[name]]
                table.add_row(
                    name,
                    f"[{style}]{mark} {self.state[name]}[/]",
                    self._elapsed(name),
                    self.note.get(name, ""),
                )
        return table
