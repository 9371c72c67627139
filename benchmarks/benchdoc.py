"""Write a benchmark's tables into its docs page, stamped with date, machine and load.

Every script in ``benchmarks/`` ends with one call::

    publish("serving", __doc__, [md_table(headers, rows)], notes=[...])

which replaces ``docs/benchmarks/serving.md`` atomically (temp name, then rename) with the
tables, the script's own docstring (what it measures, its targets), the exact command, the
git commit, the machine and the load average at start and end: a number on the docs site
always says where it came from. ``IMDBOPS_BENCH_DOCS=off`` skips the page (e.g. for a quick
run at reduced size); ``IMDBOPS_BENCH_DOCS=DIR`` writes it into DIR instead.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO / "docs" / "benchmarks"
# The 1-minute load average when the script started (this module is imported at its top).
START_LOAD = os.getloadavg()[0]
START_TIME = time.time()


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r`` (default: l)."""
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    marks = ["---:" if align[i : i + 1] == "r" else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def rich_to_md(table) -> str:
    """A ``rich.table.Table`` as Markdown (for the scripts that print with rich)."""
    headers = [str(col.header) for col in table.columns]
    columns = [[str(cell) for cell in col.cells] for col in table.columns]
    align = "".join("r" if col.justify == "right" else "l" for col in table.columns)
    body = md_table(headers, zip(*columns, strict=True), align)
    return f"**{table.title}**\n\n{body}" if table.title else body


def machine() -> str:
    """CPU model, cores, memory and OS: enough to tell two machines apart."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def commit() -> str:
    """The checked-out commit, marked when the work tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + (" (with uncommitted changes)" if dirty else "")


def _target_dir() -> Path | None:
    setting = os.environ.get("IMDBOPS_BENCH_DOCS", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    return Path(setting) if setting else DOCS_DIR


def _docstring_markdown(doc: str | None) -> str:
    """The docstring after its title line; indented usage lines become a fenced code block.

    Fenced, not left indented: after a numbered list an indented line would continue the
    list item, and ``[--opt N]`` would then read as a Markdown link. ``Double backticks``
    are Markdown code as they are.
    """
    out: list[str] = []
    in_code = False
    for line in (doc or "").strip().splitlines()[1:]:
        code = line.startswith("    ") and (in_code or not out or not out[-1].strip())
        if code and not in_code:
            out.append("```bash")
        elif in_code and not code:
            out.append("```")
        in_code = code
        out.append(line[4:] if code else line)
    if in_code:
        out.append("```")
    return "\n".join(out).strip()


def render(
    name: str, doc: str | None, tables: Sequence[str], notes: Sequence[str], stamp: str
) -> str:
    """The page: title (the docstring's first line), the stamp, the tables, the docstring."""
    title = (doc or name).strip().splitlines()[0].rstrip(".")
    # The script that ran (one script may write several pages: scale.py -> scale-fit.md).
    ran = Path(sys.argv[0])
    script = ran.name if ran.suffix == ".py" and ran.parent.name == "benchmarks" else f"{name}.py"
    parts = [
        f"# {title}",
        "",
        f"<!-- Written by benchmarks/{script} through benchmarks/benchdoc.py: "
        "edits are overwritten. -->",
        f"Generated by `benchmarks/{script}` at the end of its last run; run it again to "
        "refresh this page. The load average says how busy the machine was: on a shared "
        "machine, compare CPU seconds rather than wall time.",
        "",
        stamp,
        "",
        "## Results",
        "",
    ]
    for table in tables:
        parts += [table, ""]
    if notes:
        parts += [*(f"- {n}" for n in notes), ""]
    description = _docstring_markdown(doc)
    if description:
        parts += ["## What it measures", "", description, ""]
    return "\n".join(parts)


def publish(
    name: str,
    doc: str | None,
    tables: Sequence[str],
    notes: Sequence[str] = (),
) -> Path | None:
    """Replace ``docs/benchmarks/<name>.md`` with these tables and the run's stamp.

    Args:
        name: the script's name without ``.py`` (and the page's file name).
        doc: the script's module docstring; its first line becomes the page title.
        tables: Markdown blocks, usually from :func:`md_table` or :func:`rich_to_md`.
        notes: short lines printed under the tables (verdicts, excluded costs).

    Returns:
        The page written, or None when ``IMDBOPS_BENCH_DOCS=off``.
    """
    folder = _target_dir()
    if folder is None:
        return None
    command = " ".join(
        ["python", shlex.quote(f"benchmarks/{Path(sys.argv[0]).name}")]
        + [shlex.quote(a) for a in sys.argv[1:]]
    )
    stamp = md_table(
        ["run", ""],
        [
            ["date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())],
            ["duration", f"{time.time() - START_TIME:,.0f} s"],
            ["command", f"`{command}`"],
            ["commit", commit()],
            ["machine", machine()],
            [
                "load average (1 min)",
                f"{START_LOAD:.2f} at start, {os.getloadavg()[0]:.2f} at the end",
            ],
        ],
    )
    # Imported here: a script may choose which imdbops to import (pipeline.py runs a snapshot).
    from imdbops.atomic import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"{name}.md"
    atomic_write_text(page, render(name, doc, tables, notes, stamp))
    print(f"wrote {page}", file=sys.stderr)
    return page
