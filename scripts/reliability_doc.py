"""Write ``docs/reliability.md`` from the rows the reliability suite recorded.

Usage, after a run of the suite (``make test``, or ``.venv/bin/pytest -n 2 tests/reliability``):

    .venv/bin/python scripts/reliability_doc.py [--rows DIR] [--out FILE]

Each scenario of ``tests/reliability`` records one row (``reports/reliability/rows/*.json``,
cleared at the start of every test session); this command turns them into the docs page.
The test suite itself never writes a tracked file, so the page changes only when someone
runs this and commits the result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ROWS_DIR = REPO / "reports" / "reliability" / "rows"  # where tests/reliability records rows
DOC = REPO / "docs" / "reliability.md"

# What the suite does, above its results on the docs site's Reliability page.
INTRO = [
    "The suite is part of `make test`. It kills the pipeline with SIGKILL inside each task and",
    "resumes it, fills the lake's disk, races two promotions, sends hostile input (corrupt",
    "datasets, CSV-injection titles, control characters, right-to-left marks, 10,000-character",
    "strings, path traversal), drives the API for 60 s of mixed valid and invalid traffic with a",
    "model reload in the middle, tampers with a registered model artifact, and searches every",
    "file and response for planted credentials. `benchmarks/load.py` offers the app a steady",
    "mixed load at several rates (see [Benchmarks: load](benchmarks/load.md)). Shared services",
    "(PostgreSQL, S3, the MLflow server) failing mid-work across machines: the rows of group",
    '"multi-machine faults" and [their summary](reliability-multi-machine.md).',
]


def read_rows(rows_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(rows_dir.glob("*.json"))]


def render(rows: list[dict[str, Any]], stamp: str) -> str:
    """The results page (nothing written by hand), rows sorted by group and scenario."""
    lines = [
        "# Reliability and security suite: results",
        "",
        f"Written by `scripts/reliability_doc.py` from the suite's last run ({stamp}); do not "
        "edit by hand.",
        "Re-create with `.venv/bin/pytest -n 2 tests/reliability` then "
        "`.venv/bin/python scripts/reliability_doc.py`.",
        "",
        *INTRO,
        "",
        "| group | scenario | what was done | outcome | figures |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["group"], r["scenario"])):
        figures = ", ".join(f"{k}={v}" for k, v in r.get("figures", {}).items())
        cells = [r["group"], r["scenario"], r["action"], r["outcome"], figures]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=Path, default=ROWS_DIR, help=f"default: {ROWS_DIR}")
    parser.add_argument("--out", type=Path, default=DOC, help=f"default: {DOC}")
    args = parser.parse_args(argv)
    rows = read_rows(args.rows) if args.rows.is_dir() else []
    if not rows:
        print(
            f"no rows in {args.rows}: run the reliability suite first "
            "(.venv/bin/pytest -n 2 tests/reliability)",
            file=sys.stderr,
        )
        return 2
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(render(rows, stamp), encoding="utf-8")
    tmp.replace(args.out)  # a half-written page never replaces the last one
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
