"""Explanation cost per item beside plain prediction, for the default model.

Fits the default stack on a sample of the bundled movies, then times, on the same held-out
titles and in the same run: ``predict_proba`` one item at a time and in batches of 100, and
``explain`` the same ways. Times are CPU time of this process with BLAS pinned to one
thread, so a busy shared machine does not distort them. Target: explain under 5 ms per item.

    .venv/bin/python benchmarks/explain.py                 # 20,000 training rows
    .venv/bin/python benchmarks/explain.py --rows 5000     # quick look
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from benchdoc import md_table, publish  # noqa: E402

TARGET_MS = 5.0


def _cpu_ms_per_item(fn, frame, batch: int) -> float:
    started = time.process_time()
    for start in range(0, len(frame), batch):
        fn(frame.iloc[start : start + batch])
    return (time.process_time() - started) * 1000.0 / len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="training rows")
    parser.add_argument("--items", type=int, default=300, help="titles to score and explain")
    args = parser.parse_args()

    from imdbops.dataops.bundled import GENRE_FLAGS, read_bundled_movies
    from imdbops.mlops.explain import explain
    from imdbops.mlops.models import get_spec
    from imdbops.mlops.transform import to_model_frame
    from imdbops.movies import label_from_rating

    movies = read_bundled_movies().sample(n=args.rows + args.items, random_state=0)
    items = [
        {
            "title": str(r.title),
            "genres": [g for g in GENRE_FLAGS if getattr(r, g) == 1],
            "year": int(r.year),
            "runtime_minutes": float(r.length),
        }
        for r in movies.itertuples(index=False)
    ]
    labels = np.array([label_from_rating(r) for r in movies["rating"]])
    frame = to_model_frame(items)
    train, held = frame.iloc[: args.rows], frame.iloc[args.rows :].reset_index(drop=True)
    spec = get_spec("default")
    model = spec.build({}, seed=0)
    spec.fit(model, train, labels[: args.rows])

    rows = []
    for batch in (1, 100):
        predict = _cpu_ms_per_item(model.predict_proba, held, batch)
        why = _cpu_ms_per_item(lambda f: explain(model, f), held, batch)
        rows.append((batch, predict, why))
    title = f"default model fitted on {args.rows:,} rows; {len(held)} held-out titles; CPU ms/item"
    table = md_table(
        ["batch", "predict", "explain", "explain / predict", f"explain <= {TARGET_MS:g} ms"],
        [
            [batch, f"{predict:.2f}", f"{why:.2f}", f"{why / predict:.1f}x",
             "MET" if why <= TARGET_MS else "MISS"]
            for batch, predict, why in rows
        ],
        align="rrrrl",
    )  # fmt: skip
    print(f"{title}\n{table}")
    publish("explain", __doc__, [f"**{title}**", table])


if __name__ == "__main__":
    main()
