"""Model quality on the bundled data: baselines beside the default model (and the champion).

Trains each model on the pipeline's own split (``mlops.split.split_frame``: sort by tconst,
stratified 70/15/15, seed 42) of the bundled 58,788-movie table and prints one table:
test ROC-AUC with year/runtime given and blanked out (title + genres only), accuracy, log
loss, fit time, batch throughput and single-item latency. Speeds are CPU time of this
process with BLAS pinned to one thread, so a busy shared machine does not distort them.

    .venv/bin/python benchmarks/model_quality.py                 # all models, full data
    .venv/bin/python benchmarks/model_quality.py --rows 8000     # quick look on a sample
    .venv/bin/python benchmarks/model_quality.py --champion      # add the registry champion
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from benchdoc import md_table, publish  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score  # noqa: E402

from imdbops.movies import predicted_labels  # noqa: E402

TARGET_AUC = 0.695
TARGET_MARGIN = 0.010
TARGET_ROWS_PER_S = 5_000
TARGET_SINGLE_MS = 10.0
# "logreg+plain" is the baseline as described (word+char TF-IDF + genre one-hots,
# sklearn's default C=1.0); "logreg" is our registry baseline, C and genre pairs tuned on val.
VARIANTS = {"minilm": {"embedding": "minilm"}, "plain": {"C": 1.0, "genre_pairs": False}}


def bundled_processed() -> pd.DataFrame:
    """The bundled table as the pipeline's processed frame (synthetic tconst, labels)."""
    from imdbops.dataops.bundled import read_bundled_movies, to_imdb_tables
    from imdbops.mlops.transform import transform_movies

    basics, ratings = to_imdb_tables(read_bundled_movies())
    return transform_movies(basics.merge(ratings, on="tconst"))


def split(frame: pd.DataFrame, seed: int):
    from imdbops.mlops.split import model_input, split_frame

    parts = split_frame(frame, seed=seed, val_size=0.15, test_size=0.15)
    return [(model_input(p), p["label"].to_numpy(dtype=np.int64)) for p in parts]


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def measure(name: str, model, X_test: pd.DataFrame, y_test: np.ndarray, fit_s: float) -> dict:
    proba = model.predict_proba(X_test)[:, 1]
    blank = X_test.assign(year=np.nan, runtime_minutes=np.nan)
    proba_blank = model.predict_proba(blank)[:, 1]
    batch = X_test.sample(5_000, replace=len(X_test) < 5_000, random_state=0)
    model.predict_proba(batch.iloc[:10])  # warm caches (lazy tokenizer build etc.)
    batch_s = min(cpu_seconds(lambda: model.predict_proba(batch)) for _ in range(2))
    singles = [X_test.iloc[[i]] for i in range(200)]
    single_ms = statistics.median(
        cpu_seconds(lambda row=row: model.predict_proba(row)) * 1000 for row in singles
    )
    return {
        "model": name,
        "auc": roc_auc_score(y_test, proba),
        "auc_title_genres": roc_auc_score(y_test, proba_blank),
        "accuracy": accuracy_score(y_test, predicted_labels(proba_blank)),
        "log_loss": log_loss(y_test, np.clip(proba_blank, 1e-7, 1 - 1e-7)),
        "fit_s": fit_s,
        "rows_per_s": len(batch) / max(batch_s, 1e-9),
        "single_ms": single_ms,
    }


def results_table(rows: list[dict]) -> str:
    headers = [
        "model", "test ROC-AUC (year/runtime given)", "test ROC-AUC (title+genres)", "accuracy",
        "log loss", "fit CPU s", "batch rows/s", "single-item ms",
    ]  # fmt: skip
    cells = [
        [
            r["model"], f"{r['auc']:.4f}", f"{r['auc_title_genres']:.4f}", f"{r['accuracy']:.4f}",
            f"{r['log_loss']:.4f}", f"{r['fit_s']:.1f}", f"{r['rows_per_s']:,.0f}",
            f"{r['single_ms']:.2f}",
        ]
        for r in rows
    ]  # fmt: skip
    return md_table(headers, cells, align="lrrrrrrr")


def verdict(rows: list[dict]) -> list[str]:
    by = {r["model"]: r for r in rows}
    if "default" not in by:
        return []
    d = by["default"]
    checks = [(f"title+genres ROC-AUC >= {TARGET_AUC}", d["auc_title_genres"] >= TARGET_AUC)]
    for name, label in (
        ("logreg+plain", "the issue's word+char TF-IDF + genres logreg (sklearn defaults)"),
        ("logreg", "our tuned logreg (C=0.3 + genre pairs, picked on val; stricter)"),
    ):
        if name in by:
            bar = by[name]["auc_title_genres"] + TARGET_MARGIN
            checks.append(
                (
                    f"title+genres ROC-AUC >= {label} + {TARGET_MARGIN} "
                    f"({d['auc_title_genres']:.4f} vs {bar:.4f})",
                    d["auc_title_genres"] >= bar,
                )
            )
    checks += [
        (f"batch > {TARGET_ROWS_PER_S} rows/s", d["rows_per_s"] > TARGET_ROWS_PER_S),
        (f"single item < {TARGET_SINGLE_MS} ms", d["single_ms"] < TARGET_SINGLE_MS),
    ]
    return [f"{'MET ' if ok else 'MISS'}  {text}" for text, ok in checks]


def main() -> None:
    from imdbops.mlops.models import get_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="majority,reference,logreg+plain,logreg,default")
    parser.add_argument("--rows", type=int, default=0, help="subsample the data (0 = all)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--params", default="{}", help='JSON, e.g. {"default": {"C_tfidf": 0.3}}')
    parser.add_argument("--champion", action="store_true", help="add the registry champion")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()

    frame = bundled_processed()
    if args.rows:
        frame = frame.sample(args.rows, random_state=args.seed)
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = split(frame, args.seed)
    print(
        f"data: {len(frame):,} rows; train {len(X_tr):,} / val {len(X_va):,} / test {len(X_te):,}"
    )
    overrides = json.loads(args.params)
    rows = []
    for name in args.models.split(","):
        # "default+minilm" = the default model with a named variant's params on top.
        base, _, variant = name.partition("+")
        spec = get_spec(base)
        params = {**VARIANTS.get(variant, {}), **overrides.get(name, {})}
        model = spec.build(params, seed=args.seed)
        fit_s = cpu_seconds(lambda spec=spec, model=model: spec.fit(model, X_tr, y_tr, X_va, y_va))
        rows.append(measure(name, model, X_te, y_te, fit_s))
        print(f"  {name}: fitted in {fit_s:.1f} CPU s", flush=True)
    if args.champion:
        from imdbops.config import load_config
        from imdbops.mlops.registry import load_champion

        loaded = load_champion(load_config())
        if loaded is None:
            print("  no champion registered; run `imdbops pipeline run` first")
        else:
            rows.append(
                measure(f"champion v{loaded.version}", loaded.model, X_te, y_te, float("nan"))
            )
    print()
    table = results_table(rows)
    print(table)
    for line in verdict(rows):
        print(line)
    data = f"{len(frame):,} rows; train {len(X_tr):,} / val {len(X_va):,} / test {len(X_te):,}"
    publish("model_quality", __doc__, [table], notes=[f"data: {data}", *verdict(rows)])
    if args.json:
        from imdbops.atomic import atomic_write_json

        atomic_write_json(args.json, rows)


if __name__ == "__main__":
    main()
