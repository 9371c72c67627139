"""Benchmark: the promotion gate over yearly IMDb snapshots, through the real commands.

    .venv/bin/python benchmarks/promotion_over_time.py [--root DIR] [--years 1985,1990,...]
        [--unrated-years 2] [--model default] [--n-trials 4] [--timeout-s 60]

From the bundled movies it writes one IMDb-format snapshot per year in ``--years``: every
title released up to that year is in ``title.basics``, and only those released more than
``--unrated-years`` before it have a rating (the rest are released but unrated, as in IMDb's
own dumps). Each snapshot goes through ``imdbops data ingest --source imdb``, ``warehouse
build`` and ``pipeline run`` in one project, as a user would (``--model``: the default
stack, or e.g. ``logreg`` for a quick run; the gate's fairness does not depend on it).

Printed per snapshot: the registered version, the gate's decision and reason, the rows it
compared and those it excluded as the champion's training rows, the champion afterwards, and
the share of this version's test titles that an earlier version trained on. The baseline in
the same run is that share under the old rule (a random re-split of each snapshot): what
the gate used to compare on. Target: 0% leaked under stable membership, and no REJECT for a
"regression" measured on a champion's own training rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchdoc import publish, rich_to_md

BIN = Path(sys.executable).parent


def _cli(args: list[str], root: Path) -> str:
    proc = subprocess.run(
        [str(BIN / "imdbops"), *args], cwd=root, capture_output=True, text=True, env=os.environ
    )
    if proc.returncode != 0:
        sys.exit(
            f"`imdbops {' '.join(args)}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def _snapshot(movies, year: int, unrated_years: int, folder: Path) -> tuple[Path, Path, int]:
    from imdbops.dataops.bundled import to_imdb_tables, write_imdb_tsv

    released = movies[movies["year"] <= year]
    basics, ratings = to_imdb_tables(released)
    rated = (released["year"] <= year - unrated_years).to_numpy()
    folder.mkdir(parents=True, exist_ok=True)
    write_imdb_tsv(basics, folder / "title.basics.tsv.gz")
    write_imdb_tsv(ratings[rated], folder / "title.ratings.tsv.gz")
    return folder / "title.basics.tsv.gz", folder / "title.ratings.tsv.gz", int(rated.sum())


def _ids(splits: Path, name: str) -> set[str]:
    return set((splits / f"{name}_tconst.txt").read_text().split())


def _old_rule_leak(splits: Path, seen_before: set[str], seed: int) -> float:
    """Share of test titles an earlier version trained on, had this snapshot been re-split
    at random (sklearn's stratified train_test_split, the rule before stable membership)."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frames = [pd.read_parquet(splits / f"{n}.parquet") for n in ("train", "val", "test")]
    ordered = pd.concat(frames).sort_values("tconst", kind="mergesort").reset_index(drop=True)
    _, test = train_test_split(
        ordered, test_size=0.15, random_state=seed, stratify=ordered["label"]
    )
    ids = set(test["tconst"].astype(str))
    return len(ids & seen_before) / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--years", default="1985,1990,1995,2000,2005")
    parser.add_argument("--unrated-years", type=int, default=2)
    parser.add_argument("--model", default="default")
    parser.add_argument("--n-trials", type=int, default=4)
    parser.add_argument("--timeout-s", type=float, default=60.0)
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from imdbops.config import load_config
    from imdbops.dataops.bundled import read_bundled_movies
    from imdbops.pipelines.contract import catalog

    root = args.root or Path(tempfile.mkdtemp(prefix="imdbops-promotion-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "imdbops.yaml").write_text(
        f"paths: {{root: {root}}}\n"
        f"training: {{model: {args.model}, n_trials: {args.n_trials}, "
        f"timeout_s: {args.timeout_s}}}\n"
    )
    movies = read_bundled_movies()
    seen_before: set[str] = set()
    rows = []
    for year in (int(y) for y in args.years.split(",")):
        basics, ratings, rated = _snapshot(
            movies, year, args.unrated_years, root / "dumps" / str(year)
        )
        _cli(["data", "ingest", "--source", "imdb", "--basics", str(basics),
              "--ratings", str(ratings)], root)  # fmt: skip
        _cli(["warehouse", "build"], root)
        _cli(["pipeline", "run", "--run-id", f"y{year}"], root)
        where = catalog(load_config(root / "imdbops.yaml"))
        splits = where["splits"].path
        decision = json.loads(where["decision"].path.read_text())
        test = _ids(splits, "test")
        leak = len(test & seen_before) / len(test)
        old_leak = _old_rule_leak(splits, seen_before, 42) if seen_before else 0.0
        rows.append((year, rated, decision, leak, old_leak))
        seen_before |= _ids(splits, "train") | _ids(splits, "val")
        print(f"{year}: {decision['decision']} v{decision['challenger_version']}", flush=True)

    table = Table(title=f"The promotion gate over yearly snapshots (model {args.model})")
    for col in ("snapshot", "rated", "version", "decision", "compared", "excluded",
                "challenger", "champion", "champion after", "test leaked", "old rule"):  # fmt: skip
        table.add_column(col, justify="right")

    def num(d, key):
        return "-" if d.get(key) is None else f"{d[key]:.4f}"

    for year, rated, d, leak, old_leak in rows:
        table.add_row(
            str(year), f"{rated:,}", str(d["challenger_version"]), d["decision"],
            str(d.get("compared_rows", d.get("challenger_unseen_rows", "-"))),
            str(d.get("excluded_seen_by_champion", "-")), num(d, "challenger_score"),
            num(d, "champion_score"), str(d.get("champion_after")), f"{leak:.0%}", f"{old_leak:.0%}",
        )  # fmt: skip
    Console(width=160).print(table)
    reasons = [f"{year}: {d['decision']} - {d['reason']}" for year, _, d, _, _ in rows]
    print("\n".join(reasons))
    publish("promotion_over_time", __doc__, [rich_to_md(table)], notes=reasons)


if __name__ == "__main__":
    main()
