"""Task ``split``: a seeded train/validation/test split whose membership never moves.

A movie's part is a function of its ``tconst``, the seed and the fractions alone (a hash
into [0, 1), as TFX's ExampleGen does), never of the rest of the dataset: as the data grows
from one snapshot to the next, a movie trained on stays in train and a test movie stays in
test, so a retrained model is never judged on movies an earlier one memorised. Label balance
is therefore kept by the hash's uniformity, not forced (forcing it needs the other rows).

With ``training.out_of_time_years`` N > 0, the titles of the newest N release years in the
data never go to train or val: they join test as the out-of-time holdout, reported beside
the random holdout (the hash's test bucket of the older years).

Each split's tconst list is written as a text file with its md5, so anyone can check that no
test movie was ever trained on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imdbops.atomic import atomic_path, atomic_write_json, atomic_write_text
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.transform import to_model_frame
from imdbops.movies import MODEL_INPUT_COLUMNS
from imdbops.orchestrator.catalog import Location, file_in

log = get_logger("mlops.split")

SPLITS = ("train", "val", "test")


class SplitError(ValueError):
    """The processed dataset cannot be split (one class only, too few rows, duplicates)."""


def tconst_md5(tconsts: list[str]) -> str:
    return hashlib.md5("\n".join(tconsts).encode()).hexdigest()  # noqa: S324 - identity hash


def bucket_of(tconsts, seed: int) -> np.ndarray:
    """Each id's stable position in [0, 1): blake2b of ``seed:tconst``, first 8 bytes."""
    scale = float(2**64)
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(f"{seed}:{t}".encode(), digest_size=8).digest(), "big")
            / scale
            for t in tconsts
        ),
        dtype=np.float64,
        count=len(tconsts),
    )


def out_of_time_from(frame: pd.DataFrame, years: int) -> int | None:
    """The first release year of the out-of-time holdout (the newest ``years`` years in the
    data), or None when it is off or no row has a year."""
    if years <= 0 or "year" not in frame or frame["year"].isna().all():
        return None
    return int(frame["year"].max()) - years + 1


def split_frame(
    frame: pd.DataFrame,
    seed: int,
    val_size: float,
    test_size: float,
    out_of_time_years: int = 0,
):
    """(train, val, test) frames; raises SplitError when a part would be unusable."""
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        only = int(counts.index[0]) if len(counts) else "none"
        raise SplitError(
            f"the dataset has one class only (label {only} for all {len(frame)} rows); a "
            "classifier needs both liked and not-liked movies — check the extract filters"
        )
    if frame["tconst"].duplicated().any():
        dup = frame.loc[frame["tconst"].duplicated(), "tconst"].iloc[0]
        raise SplitError(f"tconst {dup!r} appears more than once; deduplicate the extract")
    minority = int(counts.min())
    if minority < 3 or len(frame) < 10:
        raise SplitError(
            f"too few rows to stratify ({len(frame)} rows, {minority} in the rarer class); "
            "need at least 10 rows and 3 of each class"
        )
    ordered = frame.sort_values("tconst", kind="mergesort").reset_index(drop=True)
    u = bucket_of(ordered["tconst"].astype(str).tolist(), seed)
    is_test = u < test_size
    is_val = ~is_test & (u < test_size + val_size)
    newest = out_of_time_from(ordered, out_of_time_years)
    if newest is not None:
        recent = (ordered["year"] >= newest).to_numpy()
        is_test |= recent
        is_val &= ~recent
    parts = (ordered[~is_test & ~is_val], ordered[is_val], ordered[is_test])
    for name, part in zip(SPLITS, parts, strict=True):
        if part["label"].nunique() < 2:
            raise SplitError(
                f"the {name} split of {len(frame)} rows has {len(part)} rows and not both "
                "classes; use more data or larger training.val_size/test_size"
            )
    return tuple(part.reset_index(drop=True) for part in parts)


def holdout_masks(test: pd.DataFrame, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Which test rows are the random holdout and which the out-of-time one (``time``)."""
    newest = (meta.get("out_of_time") or {}).get("from_year")
    if newest is None:
        recent = np.zeros(len(test), dtype=bool)
    else:
        recent = (test["year"] >= newest).fillna(False).to_numpy(dtype=bool)
    return {"random": ~recent, "time": recent}


def split_path(splits: Location, role: str) -> Path:
    """A file of the split folder by role (``train``, ``val_ids``, ``meta`` ...), as the
    catalog names it."""
    return file_in(splits, role)


def split_md5(parts) -> str:
    """The identity of a (train, val, test) split: which movies went where, in order."""
    ids = [tconst_md5(part["tconst"].astype(str).tolist()) for part in parts]
    return hashlib.md5("|".join(ids).encode()).hexdigest()  # noqa: S324


def split_file(cfg: Config, processed_path: Path, out_dir: Location) -> dict[str, Any]:
    """Write each part, its tconst list and the split's metadata, under the catalog's
    names (``out_dir.file(role)``)."""
    processed_path = Path(processed_path)
    if not processed_path.exists():
        raise FileNotFoundError(f"processed dataset {processed_path} does not exist; run transform")
    frame = pd.read_parquet(processed_path)
    t = cfg.training
    parts = split_frame(frame, t.seed, t.val_size, t.test_size, t.out_of_time_years)
    newest = out_of_time_from(frame, t.out_of_time_years)
    meta: dict[str, Any] = {
        "seed": t.seed,
        "sizes": {"val": t.val_size, "test": t.test_size},
        "membership": "hash",
        "source": str(processed_path),
        "splits": {},
        "out_of_time": None
        if newest is None
        else {
            "years": t.out_of_time_years,
            "from_year": newest,
            "rows": int((parts[2]["year"] >= newest).sum()),
        },
    }
    for name, part in zip(SPLITS, parts, strict=True):
        ids = part["tconst"].astype(str).tolist()
        with atomic_path(split_path(out_dir, name)) as tmp:
            part.reset_index(drop=True).to_parquet(tmp, index=False)
        atomic_write_text(split_path(out_dir, f"{name}_ids"), "\n".join(ids) + "\n")
        meta["splits"][name] = {
            "rows": len(part),
            "tconst_md5": tconst_md5(ids),
            "positive_rate": round(float(part["label"].mean()), 6),
            "positives": int(part["label"].sum()),
        }
    s = meta["splits"]
    meta["split_md5"] = split_md5(parts)
    meta["test_md5"] = s["test"]["tconst_md5"]
    atomic_write_json(split_path(out_dir, "meta"), meta)
    log.info(
        "split %d rows: train %d / val %d / test %d (split_md5 %s)",
        len(frame),
        s["train"]["rows"],
        s["val"]["rows"],
        s["test"]["rows"],
        meta["split_md5"][:12],
    )
    return meta


def read_split_meta(splits_dir: Location) -> dict[str, Any]:
    import json

    path = split_path(splits_dir, "meta")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run the split step first")
    return json.loads(path.read_text())


def load_split(splits_dir: Location, name: str) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(processed rows, model input frame, labels) of one split."""
    path = split_path(splits_dir, name)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run the split step first")
    frame = pd.read_parquet(path)
    return frame, model_input(frame), frame["label"].to_numpy(dtype=np.int64)


def load_split_parts(parts) -> list[tuple[pd.DataFrame, pd.DataFrame, np.ndarray]]:
    """``load_split`` for frames already in memory (e.g. a split rebuilt by reproduce)."""
    return [(part, model_input(part), part["label"].to_numpy(dtype=np.int64)) for part in parts]


def model_input(frame: pd.DataFrame) -> pd.DataFrame:
    """The model input frame for processed rows: the very function serving uses."""
    return to_model_frame(frame[MODEL_INPUT_COLUMNS])
