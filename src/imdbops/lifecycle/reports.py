"""Drift report folders (``<monitoring.reports_dir>/<run_id>/``, about 4 MiB each: the
Evidently page and its summary) and performance reports
(``<monitoring.reports_dir>/performance/<run_id>.json``).

``monitor run`` writes one folder per run and nothing else removes them, so the newest
``retention.keep_reports`` of each are kept and the rest go, by ``imdbops gc`` and by
``monitor run`` itself after each report (so a scheduled monitor job keeps its volume
bounded with no gc job beside it). The report ``latest.json`` names is always kept: the
page and the Prometheus gauges read it.
"""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

from imdbops.config import Config
from imdbops.lifecycle.items import Found, Item, local_size, remove_local, sweep_trash
from imdbops.log import get_logger

log = get_logger("lifecycle.reports")

# Run ids are UTC timestamps (``20260101T120000Z``, ``-2`` on a clash): sorted by name is
# sorted by time.
RUN_ID = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")
LATEST = "latest.json"


def _latest_run(folder: Path) -> str | None:
    try:
        return json.loads((folder / LATEST).read_text()).get("run_id")
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        return None


def _order(run_id: str) -> tuple[str, int]:
    base, _, n = run_id.partition("-")
    return (base, int(n or 1))


def collect(cfg: Config) -> Found:
    keep_n = cfg.retention.keep_reports
    found = Found()
    root = Path(cfg.monitoring.reports_dir)
    for kind, folder, suffix in (
        ("drift_report", root, ""),
        ("performance_report", root / "performance", ".json"),
    ):
        try:
            names = [p.name for p in folder.iterdir()]
        except FileNotFoundError:
            continue
        found_ids = (n.removesuffix(suffix) for n in names if n.endswith(suffix))
        runs = sorted((r for r in found_ids if RUN_ID.match(r)), key=_order, reverse=True)
        latest = _latest_run(folder)
        for rank, run_id in enumerate(runs):
            path = folder / f"{run_id}{suffix}"
            found.sort(
                kind, run_id, rank < keep_n or run_id == latest,
                f"older than the newest {keep_n} reports (retention.keep_reports)",
                str(path), partial(local_size, path),
            )  # fmt: skip
    return found


def remove(cfg: Config, item: Item) -> None:
    root = Path(cfg.monitoring.reports_dir)
    if item.kind == "drift_report":
        remove_local(root / item.target)
    else:
        remove_local(root / "performance" / f"{item.target}.json")


def sweep(cfg: Config) -> None:
    sweep_trash(Path(cfg.monitoring.reports_dir))


def prune(cfg: Config) -> int:
    """Apply ``retention.keep_reports`` now (``monitor run`` calls it after each report).

    Report folders are renamed aside before they are deleted, so a reader or a kill never
    sees half of one; nothing else is touched, so no lock is needed.
    """
    sweep(cfg)
    found = collect(cfg)
    for item in found.remove:
        remove(cfg, item)
    if found.remove:
        log.info(
            "removed %d report(s) older than the newest %d (retention.keep_reports)",
            len(found.remove),
            cfg.retention.keep_reports,
        )
    return len(found.remove)
