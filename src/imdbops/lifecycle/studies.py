"""The Optuna studies in ``<state_dir>/optuna.db``: one per (model, split md5), resumable.

A study stays when a kept model version was tuned on its split (``<model>-<split_md5>``),
or when a kept run or current cache record names it (the tune step records its study, and
a resumed run continues it); the others are deleted with their trials.
"""

from __future__ import annotations

from pathlib import Path

from imdbops.config import Config
from imdbops.lifecycle.items import Found, Item


def _db(cfg: Config) -> Path:
    return Path(cfg.paths.state_dir) / "optuna.db"


def _names(cfg: Config) -> list[str]:
    import sqlite3

    path = _db(cfg)
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return [r[0] for r in con.execute("select study_name from studies order by study_id")]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        con.close()


def collect(cfg: Config, versions: list[dict], referenced: set[str]) -> Found:
    from imdbops.mlops.tune import study_name

    keep = set(referenced)
    for row in versions:
        tags = row.get("tags") or {}
        if tags.get("split_md5") and tags.get("model_kind"):
            keep.add(study_name(tags["split_md5"], tags["model_kind"]))
    found = Found()
    for name in _names(cfg):
        if name in keep:
            found.keep.add(("study", name))
        else:
            found.remove.append(
                Item(
                    "study",
                    name,
                    "Optuna study of a split no kept version or run was tuned on",
                    str(_db(cfg)),
                )
            )
    return found


def remove(cfg: Config, item: Item) -> None:
    import optuna

    from imdbops.mlops.tune import _storage

    try:
        optuna.delete_study(study_name=item.target, storage=_storage(cfg))
    except KeyError:
        pass  # already gone: a killed gc deleted it before its journal was cleared
