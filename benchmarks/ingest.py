"""Ingest + warehouse build on synthetic IMDb-format dumps of growing size.

Writes ``title.basics.tsv.gz`` with N rows (ratings for ~30% of them) in IMDb's exact
format, then, in a fresh child process per size, times: the first ingest, the first dbt
build, a re-ingest where ~1% of ratings changed, and the incremental rebuild. Each child
reports its own peak RSS (``getrusage``), which includes DuckDB and dbt, and the CPU
seconds of each step next to its wall time (the machine may be shared).

    .venv/bin/python benchmarks/ingest.py            # 1M and 5M rows
    .venv/bin/python benchmarks/ingest.py 200000     # custom sizes

Targets (2 cores): 1M rows ingest + build under 10 s, peak memory under 1.5 GB, linear time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from benchdoc import md_table, publish

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from imdbops.config import load_config
from imdbops.dataops.warehouse import build_warehouse, ingest_imdb

root, basics, ratings, ratings2 = map(Path, sys.argv[1:5])
cfg = load_config(paths={"root": root})
out = {}

def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime

def timed(name, fn):
    t, c = time.perf_counter(), cpu()
    value = fn()
    out[name] = time.perf_counter() - t
    out[name + "_cpu"] = cpu() - c
    return value

# dbt's import is a fixed cost paid once per process; time it on its own.
timed("dbt_import", lambda: __import__("dbt.cli.main"))
timed("ingest", lambda: ingest_imdb(cfg, basics, ratings))
out["model_rows"] = timed("build", lambda: build_warehouse(cfg)).model_rows
timed("reingest", lambda: ingest_imdb(cfg, basics, ratings2))
out["updated"] = timed("rebuild", lambda: build_warehouse(cfg)).updated
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(out))
"""


def write_dumps(folder: Path, rows: int) -> tuple[Path, Path, Path]:
    """Synthetic dumps in IMDb's format, generated inside DuckDB (fast, low memory)."""
    folder.mkdir(parents=True, exist_ok=True)
    opts = "(DELIMITER '\t', QUOTE '', ESCAPE '', NULLSTR '\\N', HEADER, COMPRESSION gzip)"
    basics, ratings, ratings2 = (
        folder / "title.basics.tsv.gz",
        folder / "title.ratings.tsv.gz",
        folder / "title.ratings.v2.tsv.gz",
    )
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (
              select 'tt' || lpad(i::varchar, 8, '0') as tconst,
                     ['movie','short','tvEpisode','tvSeries','video'][1 + (hash(i) % 5)::int]
                        as titleType,
                     'Title ' || i as primaryTitle, 'Title ' || i as originalTitle,
                     (i % 50 = 0)::int as isAdult,
                     case when i % 17 = 0 then null else 1900 + (i % 125) end as startYear,
                     null::int as endYear,
                     case when i % 7 = 0 then null else 5 + (i % 180) end as runtimeMinutes,
                     case when i % 5 = 0 then null
                          else ['Drama','Comedy,Drama','Action,Crime,Thriller','Documentary',
                                'Horror,Mystery'][1 + (i % 5)] end as genres
              from range(1, {rows} + 1) t(i)) TO '{basics}' {opts}"""
        )
        for path, bump in ((ratings, 0), (ratings2, 1)):
            # ~30% of titles are rated; the second version changes ~1% of the ratings.
            con.execute(
                f"""COPY (
                  select 'tt' || lpad(i::varchar, 8, '0') as tconst,
                         round(1 + (hash(i) % 90) / 10.0
                               + case when {bump} = 1 and i % 100 = 1 then 0.1 else 0 end, 1)
                           as averageRating,
                         1 + hash(i * 7) % 100000 as numVotes
                  from range(1, {rows} + 1) t(i) where i % 10 < 3) TO '{path}' {opts}"""
            )
    return basics, ratings, ratings2


def run(rows: int, scratch: Path) -> dict:
    folder = scratch / f"n{rows}"
    t = time.perf_counter()
    dumps = write_dumps(folder / "dumps", rows)
    gen = time.perf_counter() - t
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder / "project"), *map(str, dumps)],
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"benchmark child failed for {rows} rows:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(line[len("RESULT ") :])
    result.update(rows=rows, generate=gen)
    return result


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="imdbops-bench-") as tmp:
        results = [run(n, Path(tmp)) for n in sizes]
    cols = [
        "basics rows", "model rows", "ingest s (cpu)", "build s (cpu)", "ingest+build s",
        "per 1M rows s", "re-ingest s (cpu)", "incremental build s (rows updated)", "peak RSS MB",
    ]  # fmt: skip
    rows = []
    for r in results:
        total = r["ingest"] + r["build"]
        rows.append([
            f"{r['rows']:,}", f"{r['model_rows']:,}", f"{r['ingest']:.1f} ({r['ingest_cpu']:.1f})",
            f"{r['build']:.1f} ({r['build_cpu']:.1f})", f"{total:.1f}",
            f"{total / (r['rows'] / 1e6):.1f}", f"{r['reingest']:.1f} ({r['reingest_cpu']:.1f})",
            f"{r['rebuild']:.1f} ({r['updated']:,})", f"{r['peak_mb']:.0f}",
        ])  # fmt: skip
    table = md_table(cols, rows, align="rrrrrrrrr")
    note = f"dbt import (once per process, excluded above): {results[0]['dbt_import']:.1f} s"
    print(table)
    print(note)
    publish("ingest", __doc__, [table], notes=[note])


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000_000, 5_000_000])
