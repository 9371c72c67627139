"""The data lake: an :class:`~imdbops.objectstore.ObjectStore` at ``lake.url`` (a local folder,
``s3://bucket/prefix`` or ``gs://...``) with ``lake.storage_options``."""

from __future__ import annotations

from typing import Any

from imdbops.objectstore import ObjectStore as Lake
from imdbops.objectstore import ObjectStoreError as LakeError

__all__ = ["Lake", "LakeError", "open_lake"]


def open_lake(cfg: Any, url: str | None = None) -> Lake:
    """The configured lake (``cfg.lake.url``), or another URL with the same options."""
    return Lake(url or cfg.lake.url, cfg.lake.storage_options)
