"""Where the DAGs keep their run state: local folders, or everything under
``paths.artifacts_url`` so that tasks on different machines share nothing but that URL
(and the warehouse and tracking servers). See docs/multi-machine.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imdbops.orchestrator.store import LocalStore, RemoteStore

if TYPE_CHECKING:
    from imdbops.config import Config


def state_store(cfg: Config) -> LocalStore | RemoteStore:
    """The run manifests', cache records' (and, remote, artifacts') store of ``cfg``."""
    lock_dir = cfg.paths.state_dir / "orchestrator"
    if not cfg.paths.artifacts_url:
        return LocalStore(cfg.paths.runs_dir, lock_dir)
    return RemoteStore(
        cfg.paths.artifacts_url, cfg.paths.artifacts_storage_options, lock_dir=lock_dir
    )
