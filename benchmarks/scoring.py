"""Batch scoring throughput and memory: from a Parquet file and from the warehouse.

For each size, in a fresh child process each (so peak RSS is that run's own):

- ``predict_proba``: the champion's in-process rate on ready model-input frames of the
  same titles, in the same chunk size: the baseline scoring cannot beat;
- ``file``: ``imdbops score --input titles.parquet`` end to end (read, check, md5, predict,
  write the scores file, lake copy, one warehouse transaction);
- ``warehouse``: ``imdbops score --warehouse`` on the same number of unrated movies in the
  raw tables (the extract to Parquet included; the ingest of the dumps is not).

    .venv/bin/python benchmarks/scoring.py                 # 100k and 1M titles
    .venv/bin/python benchmarks/scoring.py 20000 100000    # custom sizes

Loading the champion from the registry (MLflow import, download, hash check) is a fixed
cost per run, shown apart (``load s``); the rates exclude it. Targets: end to end at least
80% of the predict_proba rate; peak RSS flat between 100k and 1M rows and under 1 GB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from imdbops.config import load_config
from imdbops.scoring.batch import resolve_model

root, mode, source = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
cfg = load_config(paths={"root": root})
out = {}
t = time.perf_counter()
model = resolve_model(cfg)  # registry + MLflow import: a fixed cost, timed on its own
out["load_s"] = time.perf_counter() - t
if mode == "predict_proba":
    from imdbops.scoring.inputs import read_chunks
    frames = [c.frame for c in read_chunks(source)]  # prepared outside the timed part
    t = time.perf_counter()
    rows = sum(len(model.model.predict_proba(f)) for f in frames)
    out["seconds"] = time.perf_counter() - t
else:
    from imdbops.scoring.batch import run_score
    t = time.perf_counter()
    if mode == "file":
        result = run_score(cfg, input_path=source, model=model)
    else:
        result = run_score(cfg, warehouse=True, model=model)
    out["seconds"] = time.perf_counter() - t
    rows = result.rows_read
    assert result.published and result.published["rows"] == rows, result
out["rows"] = rows
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(out))
"""

TITLES = """
select {prefix} || lpad(i::varchar, 8, '0') as tconst,
       ['The','A','Night of','Return of','Last','Dark','Little','Blood'][1 + (hash(i) % 8)::int]
         || ' ' || ['River','House','Dream','Ghost','City','Song','War','Love'][1 + (hash(i*7) % 8)::int]
         || ' ' || i as title,
       case when i % 11 = 0 then null
            else ['Drama','Comedy,Drama','Action,Crime,Thriller','Documentary','Horror,Mystery',
                  'Animation,Family','Romance'][1 + (i % 7)] end as genres,
       case when i % 17 = 0 then null else 1920 + (i % 105) end as year,
       case when i % 7 = 0 then null else 60 + (i % 120) end as runtime_minutes
from range({n}) t(i)
"""


def write_titles(path: Path, n: int) -> Path:
    query = TITLES.format(prefix="'tt1'", n=n)
    with duckdb.connect() as con:
        con.execute(f"copy ({query}) to '{path}' (format parquet)")
    return path


def write_dumps(folder: Path, n: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    opts = "(DELIMITER '\t', QUOTE '', ESCAPE '', NULLSTR '\\N', HEADER, COMPRESSION gzip)"
    basics, ratings = folder / "title.basics.tsv.gz", folder / "title.ratings.tsv.gz"
    query = TITLES.format(prefix="'tt2'", n=n)
    with duckdb.connect() as con:
        con.execute(
            f"""copy (select tconst, 'movie' as titleType, title as primaryTitle,
                             title as originalTitle, 0 as isAdult, year as startYear,
                             null::int as endYear, runtime_minutes as runtimeMinutes, genres
                      from ({query})) to '{basics}' {opts}"""
        )
        # One rated title (the dump needs rows); every other movie is unrated.
        con.execute(
            f"copy (select 'tt200000000' as tconst, 7.0 as averageRating, 10 as numVotes) "
            f"to '{ratings}' {opts}"
        )
    return basics, ratings


def child(root: Path, mode: str, source: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), mode, str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")]
    if proc.returncode or not line:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[-1][7:])


def main(sizes: list[int]) -> None:
    from imdbops.config import load_config
    from imdbops.dataops.warehouse import ingest_imdb

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.serving
    from support.serving import register_champion

    rows_out = []
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        # One registry for every size (and the child processes, through the environment).
        os.environ["IMDBOPS_TRACKING__URI"] = f"sqlite:///{tmp}/registry/mlflow.db"
        os.environ["IMDBOPS_TRACKING__ARTIFACT_DIR"] = f"{tmp}/registry/artifacts"
        Path(tmp, "registry").mkdir()
        register_champion(load_config(paths={"root": Path(tmp) / "registry"}))
        for n in sizes:
            root = Path(tmp) / f"n{n}"
            cfg = load_config(paths={"root": root})
            cfg.ensure_dirs()
            titles = write_titles(root / "titles.parquet", n)
            ingest_imdb(cfg, *write_dumps(root / "dumps", n))
            base = child(root, "predict_proba", titles)
            for mode in ("file", "warehouse"):
                r = child(root, mode, titles)
                rows_out.append((n, mode, r, base))
            rows_out.append((n, "predict_proba", base, base))
    print(
        f"\n{'rows':>9} {'source':<14} {'load s':>7} {'seconds':>8} {'rows/s':>9} "
        f"{'vs predict':>10} {'peak RSS':>9}"
    )
    for n, mode, r, base in rows_out:
        rate, base_rate = r["rows"] / r["seconds"], base["rows"] / base["seconds"]
        print(
            f"{n:>9,} {mode:<14} {r['load_s']:>7.1f} {r['seconds']:>8.2f} {rate:>9,.0f} "
            f"{rate / base_rate:>9.0%} {r['peak_mb']:>7.0f}MB"
        )
    print(
        "\nseconds/rows/s: reading, checking, hashing, predict_proba, writing the scores, the "
        "lake copy and the warehouse transaction (plus the extract for the warehouse source);"
        "\nload s: loading the champion from the registry (once per run, not per row)."
    )


if __name__ == "__main__":
    started = time.time()
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
    print(f"\ntotal {time.time() - started:.0f}s")
