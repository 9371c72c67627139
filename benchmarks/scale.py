"""The whole pipeline at IMDb's real size: ingest -> warehouse build -> the training DAG.

Writes ``title.basics.tsv.gz`` / ``title.ratings.tsv.gz`` in IMDb's exact format (tab
separated, no quoting, ``\\N`` nulls) with N basics rows, ~6% of them movies and ~60% of those
rated, as in IMDb's own dumps (12M basics rows -> ~700k movies, ~430k labelled). Titles come
from a word-level Markov chain over the bundled 58,788 titles, with ~4% of words coined
afresh from pieces of real words, so the vocabulary keeps growing with the data as it does in
reality; each word carries a hidden effect on the rating, so there is signal to learn.

Each size runs in a fresh child process with the default config (tuning budget included):
the ingest, the warehouse build, then every task of the training DAG one after another
(``workers=1``), each with its wall and CPU seconds; the child's peak RSS (its own and its
subprocesses') is printed with the rows the model was fitted on.

    .venv/bin/python benchmarks/scale.py --sizes 200000        # quick check (~3 min)
    .venv/bin/python benchmarks/scale.py                       # 1M, 4M and 12M (~40 min)
    .venv/bin/python benchmarks/scale.py --fit-only            # default model fit per row:
                                                               # bundled split x1 vs x8

Targets (2 cores): a cold run on the 12M dumps under 20 minutes with the default tuning
budget, peak RSS under 4 GB; the default model's fit time per row at ~330k rows within 1.3x
of its time per row at ~41k rows (``--fit-only``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from benchdoc import md_table, publish  # noqa: E402

SIZES = (1_000_000, 4_000_000, 12_000_000)
MOVIE_SHARE = 0.06
RATED_MOVIES = 0.6
RATED_OTHERS = 0.1
NEW_WORD = 0.04
TARGET_COLD_S = 20 * 60
TARGET_RSS_GB = 4.0
TARGET_PER_ROW_RATIO = 1.3
END = 0  # word id 0 ends a title (and starts one, as the chain's state)

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from imdbops.config import load_config
from imdbops.dataops.warehouse import ingest_imdb
from imdbops.dataops.warehouse_build import build_warehouse
from imdbops.orchestrator import Runner
from imdbops.pipelines.contract import CODE_PACKAGES
from imdbops.pipelines.training import artifact_paths, build_dag

root, basics, ratings = map(Path, sys.argv[1:4])
cfg = load_config(paths={"root": root})
cfg.ensure_dirs()
steps = []

def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

def timed(name, fn):
    t, c = time.perf_counter(), cpu()
    value = fn()
    steps.append({"step": name, "wall": time.perf_counter() - t, "cpu": cpu() - c})
    return value

timed("ingest", lambda: ingest_imdb(cfg, basics, ratings))
timed("warehouse build", lambda: build_warehouse(cfg))
marks = {}

def on_event(event, name, info):
    if event == "task_started":
        marks[name] = (time.perf_counter(), cpu())
    elif name in marks and event.startswith("task_") and event != "task_retry":
        t, c = marks.pop(name)
        steps.append({"step": name, "wall": time.perf_counter() - t, "cpu": cpu() - c,
                      "state": event[len("task_"):]})

dag = build_dag(cfg)
runner = Runner(dag, runs_dir=cfg.paths.runs_dir, cache_dir=cfg.paths.state_dir / "orchestrator",
                workers=1, resources={"cfg": cfg}, code_packages=CODE_PACKAGES, on_event=on_event)
started = time.perf_counter()
result = runner.run(run_id="scale")
pipeline_wall = time.perf_counter() - started
out = {"steps": steps, "pipeline_wall": pipeline_wall, "ok": bool(result.ok)}
paths = artifact_paths(cfg)
out["tune"] = json.loads(paths["best_params"].read_text())
out["evaluate"] = json.loads((paths["evaluation"] / "metrics.json").read_text())
splits = json.loads((paths["splits"] / "split.json").read_text())["splits"]
out.update({k + "_rows": v["rows"] for k, v in splits.items()})
peak = max(resource.getrusage(r).ru_maxrss for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
out["peak_gb"] = peak / 1024 / 1024
print("RESULT " + json.dumps(out, default=str))
"""


# ---- dumps -------------------------------------------------------------------------------
class TitleChain:
    """Word bigram chain over the bundled titles (transitions kept with their multiplicity)."""

    def __init__(self, seed: int = 0):
        from imdbops.dataops.bundled import read_bundled_movies

        titles = read_bundled_movies()["title"].astype(str).tolist()
        self.words = ["", *sorted({w for t in titles for w in t.split()})]
        index = {w: i for i, w in enumerate(self.words)}
        src, dst = [], []
        for t in titles:
            ids = [END, *(index[w] for w in t.split()), END]
            src.extend(ids[:-1])
            dst.extend(ids[1:])
        order = np.argsort(src, kind="stable")
        self.next = np.asarray(dst)[order]
        counts = np.bincount(np.asarray(src), minlength=len(self.words))
        self.offset = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.count = counts
        self.rng = np.random.default_rng(seed)
        # Hidden per-word effect on the rating: what the model can learn from titles.
        self.effect = self.rng.normal(0, 0.6, len(self.words))

    def sample(self, n: int, max_words: int = 12) -> tuple[list[str], np.ndarray]:
        """``n`` titles and each one's summed word effect."""
        rng = self.rng
        state = np.full(n, END)
        words = np.zeros((n, max_words), dtype=np.int64)
        score = np.zeros(n)
        alive = np.ones(n, dtype=bool)
        for k in range(max_words):
            pick = self.offset[state] + (rng.random(n) * self.count[state]).astype(np.int64)
            state = np.where(alive, self.next[pick], END)
            if k == 0:  # a title has at least one word
                while (bad := state == END).any():
                    state[bad] = self.next[
                        (rng.random(bad.sum()) * self.count[END]).astype(np.int64)
                    ]
            alive &= state != END
            words[:, k] = state
            score += np.where(alive, self.effect[state], 0.0)
        coined = rng.random(words.shape) < NEW_WORD
        head = rng.integers(1, len(self.words), words.shape)
        tail = rng.integers(1, len(self.words), words.shape)
        titles = []
        vocab = self.words
        for i in range(n):
            parts = []
            for k in range(max_words):
                w = words[i, k]
                if w == END:
                    break
                if coined[i, k]:
                    a, b = vocab[head[i, k]], vocab[tail[i, k]]
                    parts.append(a[: max(2, len(a) // 2)] + b[len(b) // 2 :].lower())
                else:
                    parts.append(vocab[w])
            titles.append(" ".join(parts))
        return titles, score


def write_dumps(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path, dict]:
    """IMDb-format basics and ratings dumps with ``rows`` basics rows; returns row counts."""
    from imdbops.dataops.bundled import read_bundled_movies
    from imdbops.genres import IMDB_GENRES

    folder.mkdir(parents=True, exist_ok=True)
    basics, ratings = folder / "title.basics.tsv.gz", folder / "title.ratings.tsv.gz"
    chain = TitleChain(seed)
    rng = chain.rng
    bundled = read_bundled_movies()
    flags = [g for g in IMDB_GENRES if g in bundled.columns]
    genre_pool = [
        ",".join(g for g in flags if row[g]) or r"\N"
        for row in bundled[flags].astype(bool).to_dict("records")
    ]
    others = ["short", "tvEpisode", "tvSeries", "video", "tvMovie"]
    counts = {"basics": 0, "movies": 0, "ratings": 0}
    chunk = 500_000
    with (
        gzip.open(basics, "wt", encoding="utf-8", newline="", compresslevel=1) as fb,
        gzip.open(ratings, "wt", encoding="utf-8", newline="", compresslevel=1) as fr,
    ):
        fb.write(
            "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\t"
            "runtimeMinutes\tgenres\n"
        )
        fr.write("tconst\taverageRating\tnumVotes\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            movie = rng.random(n) < MOVIE_SHARE
            n_movies = int(movie.sum())
            # Only movies reach the model; other rows get IMDb's commonest title shape.
            titles = pd.Series(
                "Episode #"
                + pd.Series(rng.integers(1, 30, n)).astype(str)
                + "."
                + pd.Series(rng.integers(1, 200, n)).astype(str),
                dtype=object,
            )
            movie_titles, score = chain.sample(n_movies)
            titles[movie] = [t.replace("\t", " ") for t in movie_titles]
            effect = np.zeros(n)
            effect[movie] = score
            kinds = np.where(movie, "movie", np.asarray(others)[rng.integers(0, 5, n)])
            year = pd.Series(rng.integers(1900, 2026, n)).astype(str)
            year[rng.random(n) < 0.04] = r"\N"
            mins = pd.Series(rng.integers(40, 200, n)).astype(str)
            mins[rng.random(n) < 0.1] = r"\N"
            genres = np.asarray(genre_pool, dtype=object)[rng.integers(0, len(genre_pool), n)]
            rated = rng.random(n) < np.where(movie, RATED_MOVIES, RATED_OTHERS)
            rating = np.clip(6.2 + effect + rng.normal(0, 1.2, n), 1.0, 10.0)
            votes = rng.zipf(1.6, n).clip(5, 3_000_000)
            tconst = pd.Series([f"tt{i:08d}" for i in range(start + 1, start + n + 1)])
            lines = (
                tconst
                + "\t"
                + kinds
                + "\t"
                + titles
                + "\t"
                + titles
                + "\t0\t"
                + year
                + "\t\\N\t"
                + mins
                + "\t"
                + genres
            )
            fb.write("\n".join(lines) + "\n")
            rlines = (
                tconst[rated]
                + "\t"
                + pd.Series(np.round(rating[rated], 1)).astype(str).values
                + "\t"
                + pd.Series(votes[rated]).astype(str).values
            )
            if len(rlines):
                fr.write("\n".join(rlines) + "\n")
            counts["basics"] += n
            counts["movies"] += n_movies
            counts["ratings"] += len(rlines)
    return basics, ratings, counts


# ---- runs --------------------------------------------------------------------------------
def run_size(rows: int, work: Path) -> dict:
    folder = work / f"dumps-{rows}"
    started = time.perf_counter()
    basics, ratings, counts = write_dumps(folder, rows)
    print(
        f"{rows:,} basics rows: dumps written in {time.perf_counter() - started:.0f} s", flush=True
    )
    root = work / f"project-{rows}"
    root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(basics), str(ratings)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(
            f"pipeline failed for {rows:,} rows:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return {"rows": rows, **counts, **json.loads(line[len("RESULT ") :])}


def fit_per_row(copies: int) -> dict:
    """Fit the default model on the bundled train split repeated ``copies`` times (titles of
    the extra copies extended by two random common words)."""
    import pandas as pd
    from model_quality import bundled_processed, split
    from sklearn.metrics import roc_auc_score

    from imdbops.mlops.models import get_spec

    (X, y), _, (X_test, y_test) = split(bundled_processed(), 42)
    rng = np.random.default_rng(0)
    common = pd.Series(" ".join(X["title"].astype(str)).lower().split()).value_counts()
    words = common.index[:500].to_numpy()
    parts = [X]
    for _ in range(1, copies):
        extra = rng.choice(words, len(X)) + " " + rng.choice(words, len(X))
        parts.append(X.assign(title=X["title"].astype(str) + " " + extra))
    X_all = pd.concat(parts, ignore_index=True)
    y_all = np.tile(y, copies)
    spec = get_spec("default")
    model = spec.build({}, 42)
    started, cpu = time.perf_counter(), time.process_time()
    spec.fit(model, X_all, y_all)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    # The copies' titles are longer, so each row holds more n-grams: count them on a sample.
    sample = model[0].transform(X_all.sample(min(len(X_all), 20_000), random_state=0))
    nnz = model[-1]._sparse(sample).nnz / len(sample)
    return {"rows": len(y_all), "wall": wall, "cpu": cpu, "auc": auc, "nnz": nnz}


FIT_DOC = """The default model's fit time per row: the bundled training split x1 vs x8.

``benchmarks/scale.py --fit-only`` fits the default model on the pipeline's split of the
bundled data (41,150 training rows), then on that split 8 times over with each extra copy's
titles extended by two random words from the 500 commonest (329,200 rows),
and compares the CPU time per row (the 41k fit is the median of three: the first fit in a
process also pays for imports). The longer titles carry more n-grams per row, so the table
gives the cost per n-gram too. Target (2 cores): the per-row time at ~330k rows within
1.3x of the per-row time at ~41k rows, with the bundled test ROC-AUC unchanged. See
[Training at scale](../scale.md) for what the fit does and what changed.
"""


def fit_table() -> None:
    import resource

    # The first fit in a process also pays for imports and first-touch page faults (~20% of
    # a 41k fit): the small size is fitted three times and its median counts.
    small = sorted((fit_per_row(1) for _ in range(3)), key=lambda r: r["cpu"])
    print("41k fits, CPU s: " + ", ".join(f"{r['cpu']:.1f}" for r in small), flush=True)
    results = [small[1], fit_per_row(8)]
    rows = [
        (
            f"{r['rows']:,}",
            f"{r['wall']:.1f}",
            f"{r['cpu']:.1f}",
            f"{r['cpu'] / r['rows'] * 1e6:.0f}",
            f"{r['nnz']:.0f}",
            f"{r['cpu'] / r['rows'] / r['nnz'] * 1e6:.2f}",
            f"{r['auc']:.4f}",
        )
        for r in results
    ]
    header = (
        "train rows",
        "fit wall s",
        "fit CPU s",
        "CPU us/row",
        "n-grams/row",
        "CPU us/n-gram",
        "test ROC-AUC",
    )
    ratio = (results[1]["cpu"] / results[1]["rows"]) / (results[0]["cpu"] / results[0]["rows"])
    per_nnz = ratio / (results[1]["nnz"] / results[0]["nnz"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    notes = [
        f"CPU time per row at {results[1]['rows']:,} rows = {ratio:.2f}x the per-row time at "
        f"{results[0]['rows']:,} (target <= {TARGET_PER_ROW_RATIO}x): "
        f"{'PASS' if ratio <= TARGET_PER_ROW_RATIO else 'MISS'}; per n-gram {per_nnz:.2f}x; "
        f"peak RSS {peak:.2f} GB",
        "(ROC-AUC at x8 is on the real test split; the copies' extra random words are noise)",
    ]
    print(md_table(header, rows))
    print("\n".join(notes))
    publish("scale-fit", FIT_DOC, [md_table(header, rows)], notes=notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), metavar="ROWS")
    parser.add_argument("--work", type=Path, help="folder for dumps and projects (temp dir)")
    parser.add_argument("--fit-only", action="store_true", help="only the fit-per-row check")
    args = parser.parse_args()
    if args.fit_only:
        fit_table()
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="imdbops-bench-scale-"))
    print(f"work folder {work} (load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)")
    table, notes = [], []
    for rows in args.sizes:
        r = run_size(rows, work)
        steps = r["steps"]
        for s in steps:
            table.append(
                (
                    f"{rows:,}",
                    s["step"],
                    f"{s['wall']:.1f}",
                    f"{s['cpu']:.1f}",
                    s.get("state", "done"),
                )
            )
        total = sum(s["wall"] for s in steps)
        tune = r.get("tune", {})
        auc = r.get("evaluate", {}).get("test_roc_auc", float("nan"))
        ok = total < TARGET_COLD_S and r["peak_gb"] < TARGET_RSS_GB and r["ok"]
        notes.append(
            f"{rows:,} basics rows ({r['movies']:,} movies; train/val/test "
            f"{r['train_rows']:,}/{r['val_rows']:,}/{r['test_rows']:,}): cold run "
            f"{total:.0f} s wall, {sum(s['cpu'] for s in steps):.0f} s CPU, peak RSS "
            f"{r['peak_gb']:.2f} GB, test ROC-AUC {auc:.3f}; tuning {tune.get('n_trials_done')} "
            f"trials in {tune.get('tune_seconds')} s on {tune.get('trial_rows')} rows "
            f"(targets < {TARGET_COLD_S // 60} min, < {TARGET_RSS_GB:.0f} GB): "
            f"{'PASS' if ok else 'MISS'}"
        )
        print(md_table(("step", "wall s", "CPU s"), [r[1:4] for r in table if r[0] == f"{rows:,}"]))
        print(notes[-1], flush=True)
    header = ("basics rows", "step", "wall s", "CPU s", "state")
    print(md_table(header, table))
    print("\n".join(notes))
    publish("scale", __doc__, [md_table(header, table)], notes=notes)


if __name__ == "__main__":
    main()
