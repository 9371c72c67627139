"""Which movies a registered version saw while it was made (its train and validation ids).

The promotion gate compares two versions only on test rows that neither saw; this module
finds what each saw, from the version's own lineage:

1. its ``split_md5`` tag names the current split: the current split's train + val lists
   (the tag is an md5 over exactly those lists, so they are the same movies);
2. else the ``split/train_tconst.txt`` and ``split/val_tconst.txt`` its training run logged;
3. else None: the version's membership is unknown and no fair comparison is possible.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.split import split_path
from imdbops.orchestrator.catalog import Location

log = get_logger("mlops.membership")

SEEN_SPLITS = ("train", "val")


def _read_ids(path: Path) -> set[str]:
    return set(path.read_text(encoding="utf-8").split())


def current_seen(splits_dir: Location) -> set[str]:
    """Train + val ids of the split in ``splits_dir``."""
    out: set[str] = set()
    for name in SEEN_SPLITS:
        out |= _read_ids(split_path(splits_dir, f"{name}_ids"))
    return out


def logged_seen(cfg: Config, run_id: str) -> set[str] | None:
    """Train + val ids a training run logged under ``split/``, or None if it logged none."""
    from imdbops.mlops.tracking import mlflow_session

    if not run_id:
        return None
    out: set[str] = set()
    Path(cfg.paths.cache_dir).mkdir(parents=True, exist_ok=True)
    scratch = tempfile.TemporaryDirectory(dir=cfg.paths.cache_dir)
    with scratch as tmp, mlflow_session(cfg) as mlflow:
        for name in SEEN_SPLITS:
            try:
                path = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=f"split/{name}_tconst.txt", dst_path=tmp
                )
            except Exception as exc:  # noqa: BLE001 - MlflowException/OSError: not logged
                log.debug("run %s has no logged %s ids: %s", run_id, name, exc)
                return None
            out |= _read_ids(Path(path))
    return out


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
        f"run {run_id or '?'} logged no split/train_tconst.txt and its split_md5 "
        f"{tags.get('split_md5', '?')} is not the current split's"
    )
