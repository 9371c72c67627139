"""Ingest + warehouse build on synthetic IMDb-format dumps of growing size.

Writes ``title.basics.tsv.gz`` with N rows (ratings for ~30% of them) in IMDb's exact
format, then, in a fresh child process per size, times: the first ingest, the first dbt
build, a re-ingest where ~1% of ratings changed, and the incremental rebuild. Each child
reports its own peak RSS (``getrusage``), which includes DuckDB and dbt, and the CPU
seconds of each step next to its wall time (the machine may be shared).

    .venv/bin/python benchmarks/ingest.py            # 1M and 5M rows
    .venv/bin/python benchmarks/ingest.py 200000     # custom sizes
    .venv/bin/python benchmarks/ingest.py --backend postgres 1000000

``--backend postgres`` runs every size on DuckDB and on PostgreSQL, one row each in the same
table (same machine, same run, same dumps). PostgreSQL is a throwaway server started here
(initdb + pg_ctl, as the tests do), or the one named by ``--pg HOST:PORT/DB/USER`` with the
password in IMDBOPS_WAREHOUSE_PASSWORD. The peak RSS is our process's only: the server does
the parsing and the work.

Targets (2 cores): DuckDB 1M rows ingest + build under 10 s, peak memory under 1.5 GB,
linear time. PostgreSQL: ingest + build within 3x of DuckDB's, our peak RSS under 500 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
from benchdoc import md_table, publish

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from imdbops.config import load_config
from imdbops.dataops.warehouse import ingest_imdb
from imdbops.dataops.warehouse_build import build_warehouse

root, basics, ratings, ratings2 = map(Path, sys.argv[1:5])
cfg = load_config(paths={"root": root}, warehouse=json.loads(sys.argv[5]))
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


def run(rows: int, dumps: tuple[Path, ...], root: Path, warehouse: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), *map(str, dumps), json.dumps(warehouse)],
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"benchmark child failed for {rows} rows:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(line[len("RESULT ") :])
    result.update(rows=rows, backend=warehouse["backend"])
    return result


@contextlib.contextmanager
def postgres(spec: str | None) -> Iterator[Callable[[], dict]]:
    """Yields a function giving warehouse settings for an empty PostgreSQL database.

    With ``spec`` that is the one database named (so pass one size: the second would load
    over the first); otherwise a throwaway server where each call creates a new database.
    """
    if spec:
        hostport, database, user = spec.split("/")
        host, port = hostport.rsplit(":", 1)
        yield lambda: {"backend": "postgres", "host": host, "port": int(port),
                       "database": database, "user": user}  # fmt: skip
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.pg_server import WAREHOUSE_PASSWORD, WAREHOUSE_USER, running_postgres

    with running_postgres("pgadmin", "bench-admin") as server:
        server.create_role(WAREHOUSE_USER, WAREHOUSE_PASSWORD)
        os.environ["IMDBOPS_WAREHOUSE_PASSWORD"] = WAREHOUSE_PASSWORD
        counter = iter(range(1, 1000))

        def fresh() -> dict:
            db = server.create_database(f"bench{next(counter)}", WAREHOUSE_USER)
            return {"backend": "postgres", "host": server.host, "port": server.port,
                    "database": db, "user": WAREHOUSE_USER}  # fmt: skip

        yield fresh


def main(sizes: list[int], backend: str, pg_spec: str | None) -> None:
    results = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="imdbops-bench-")))
        pg = stack.enter_context(postgres(pg_spec)) if backend == "postgres" else None
        for n in sizes:
            t = time.perf_counter()
            dumps = write_dumps(tmp / f"n{n}" / "dumps", n)
            gen = time.perf_counter() - t
            results.append(run(n, dumps, tmp / f"n{n}" / "duckdb", {"backend": "duckdb"}))
            if pg is not None:
                results.append(run(n, dumps, tmp / f"n{n}" / "pg", pg()))
            for r in results[-2 if pg else -1 :]:
                r["generate"] = gen
    cols = [
        "backend", "basics rows", "model rows", "ingest s (cpu)", "build s (cpu)",
        "ingest+build s", "x DuckDB", "per 1M rows s", "re-ingest s (cpu)",
        "incremental build s (rows updated)", "peak RSS MB",
    ]  # fmt: skip
    duck_total: dict[int, float] = {}
    rows = []
    for r in results:
        total = r["ingest"] + r["build"]
        if r["backend"] == "duckdb":
            duck_total[r["rows"]] = total
        ratio = total / duck_total[r["rows"]]
        rows.append([
            r["backend"], f"{r['rows']:,}", f"{r['model_rows']:,}",
            f"{r['ingest']:.1f} ({r['ingest_cpu']:.1f})", f"{r['build']:.1f} ({r['build_cpu']:.1f})",
            f"{total:.1f}", f"{ratio:.2f}", f"{total / (r['rows'] / 1e6):.1f}",
            f"{r['reingest']:.1f} ({r['reingest_cpu']:.1f})", f"{r['rebuild']:.1f} ({r['updated']:,})",
            f"{r['peak_mb']:.0f}",
        ])  # fmt: skip
    table = md_table(cols, rows, align="lrrrrrrrrrr")
    notes = [f"dbt import (once per process, excluded above): {results[0]['dbt_import']:.1f} s"]
    if backend == "postgres":
        notes.append("cpu columns are our process only; PostgreSQL's own work runs in the server.")
    print(table)
    print("\n".join(notes))
    publish("ingest", __doc__, [table], notes=notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000_000, 5_000_000])
    parser.add_argument("--backend", choices=["duckdb", "postgres"], default="duckdb",
                        help="postgres: run DuckDB and PostgreSQL side by side")  # fmt: skip
    parser.add_argument("--pg", help="HOST:PORT/DATABASE/USER of an existing server")
    args = parser.parse_args()
    main(args.sizes, args.backend, args.pg)
