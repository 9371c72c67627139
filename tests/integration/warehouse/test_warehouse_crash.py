"""A load killed (SIGKILL) after its swap but before COMMIT leaves the previous tables intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import yaml
from support.warehouse_kit import rows

from imdbops.dataops.warehouse import ingest_imdb

CHILD = """
import sys
from pathlib import Path
from imdbops.config import load_config
from imdbops.dataops.warehouse import ingest_imdb
ingest_imdb(load_config(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
"""


def snapshot(cfg) -> dict:
    return {
        table: rows(cfg, f"select * from raw.{table} order by tconst")
        for table in ("title_basics", "title_ratings")
    } | {"loads": rows(cfg, "select loaded_at, source from raw.ingest_log order by loaded_at")}


def test_sigkill_mid_load_leaves_the_previous_tables(cfg, dumps, tmp_path):
    ingest_imdb(cfg, *dumps.write())
    before = snapshot(cfg)
    dumps.set_rating("tt0000002", "2.0")
    dumps.basics.append(["tt0000009", "movie", "New", "New", "0", "2024", r"\N", "99", "Horror"])
    dumps.ratings.append(["tt0000009", "6.8", "77"])
    basics, ratings = dumps.write()

    config = tmp_path / "child.yaml"
    config.write_text(
        yaml.safe_dump(
            {"paths": {"root": str(tmp_path)}, "warehouse": cfg.warehouse.model_dump(mode="json")}
        )
    )
    env = dict(os.environ, IMDBOPS_FAILPOINTS="ingest.before_commit:kill")
    env.pop("IMDBOPS_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(config), str(basics), str(ratings)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert snapshot(cfg) == before  # nothing of the killed load is visible

    # The next load is not blocked by anything the killed one left (locks, __next tables).
    again = ingest_imdb(cfg, basics, ratings)
    assert [(t.inserted, t.updated) for t in again.tables] == [(1, 0), (1, 1)]
