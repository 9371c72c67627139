"""The split a training run logged to the tracking store, read back.

``train`` logs the split folder's meta and id lists under the run's ``split/`` artifacts
(``artifact_names.RUN_SPLIT_DIR``, the catalog's file names). Two readers need them when a
version's split is no longer the current one: the promotion gate (``membership``: which
movies the version saw) and the input vocabulary (``vocabulary``: which genres it learnt).
This is the one download of it. Stdlib-only at import (the API imports the vocabulary).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imdbops.artifact_names import FOLDER_FILES, RUN_SPLIT_DIR
from imdbops.log import get_logger
from imdbops.orchestrator.catalog import Location

log = get_logger("mlops.run_split")


@contextlib.contextmanager
def logged_split(cfg: Any, run_id: str) -> Iterator[Location | None]:
    """The split folder ``run_id`` logged, downloaded to a scratch folder under
    ``paths.cache_dir`` for the ``with`` block, as a ``splits`` Location (``.file("train_ids")``);
    None when the run logged none (or there is no run id). A file of it may still be missing:
    check before reading."""
    from imdbops.mlops.tracking import mlflow_session

    if not run_id:
        yield None
        return
    root = Path(cfg.paths.cache_dir) / "registry"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-split-", dir=root) as tmp:
        split: Location | None = None
        with mlflow_session(cfg) as mlflow:
            try:
                path = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=RUN_SPLIT_DIR, dst_path=tmp
                )
                split = Location("splits", Path(path), FOLDER_FILES["splits"])
            except Exception as exc:  # noqa: BLE001 - MlflowException/OSError: nothing logged
                log.debug("run %s has no logged split: %s", run_id, exc)
        yield split
