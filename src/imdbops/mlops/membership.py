"""Which movies a registered version saw while it was made (its train and validation ids).

The promotion gate compares two versions only on test rows that neither saw; this module
finds what each saw, from the version's own lineage:

1. its ``split_md5`` tag names the current split: the current split's train + val lists
   (the tag is an md5 over exactly those lists, so they are the same movies);
2. else the ``split/train_tconst.txt`` and ``split/val_tconst.txt`` its training run logged;
3. else None: the version's membership is unknown and no fair comparison is possible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imdbops.artifact_names import run_split_file
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.run_split import logged_split
from imdbops.mlops.split import split_path
from imdbops.orchestrator.catalog import Location

log = get_logger("mlops.membership")

SEEN_SPLITS = ("train", "val")


def _read_ids(path: Path) -> set[str]:
    return set(path.read_text(encoding="utf-8").split())


def _seen_files(splits_dir: Location) -> list[Path]:
    return [split_path(splits_dir, f"{name}_ids") for name in SEEN_SPLITS]


def current_seen(splits_dir: Location) -> set[str]:
    """Train + val ids of the split in ``splits_dir``."""
    return set().union(*(_read_ids(f) for f in _seen_files(splits_dir)))


def logged_seen(cfg: Config, run_id: str) -> set[str] | None:
    """Train + val ids a training run logged under ``split/``, or None if it logged none."""
    with logged_split(cfg, run_id) as split:
        if split is None:
            return None
        missing = [f.name for f in _seen_files(split) if not f.is_file()]
        if missing:
            log.debug("run %s logged no %s", run_id, ", ".join(missing))
            return None
        return current_seen(split)


def seen_by(
    cfg: Config,
    tags: dict[str, Any],
    run_id: str,
    meta: dict[str, Any],
    splits_dir: Location,
) -> tuple[set[str] | None, str]:
    """(ids the version trained or tuned on, where that came from); (None, why) if unknown."""
    if tags.get("split_md5") == meta.get("split_md5"):
        return current_seen(splits_dir), "the current split (same split_md5)"
    seen = logged_seen(cfg, run_id)
    if seen is not None:
        return seen, f"the split lists logged by run {run_id}"
    return None, (
        f"run {run_id or '?'} logged no {run_split_file('train_ids')} and its split_md5 "
        f"{tags.get('split_md5', '?')} is not the current split's"
    )
