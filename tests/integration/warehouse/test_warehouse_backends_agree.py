"""The same data gives the same extract whichever backend built it, and the training DAG
runs end to end on the PostgreSQL warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support.warehouse_kit import backend_config

from imdbops.dataops.extract import content_hash, extract_to_file
from imdbops.dataops.warehouse import ingest_bundled
from imdbops.dataops.warehouse_build import build_warehouse

IMDBOPS = str(Path(sys.executable).parent / "imdbops")


@pytest.mark.slow
def test_bundled_extract_has_the_same_content_hash_on_duckdb_and_postgres(
    request, tmp_path, monkeypatch
):
    metas, frames = {}, {}
    for backend in ("duckdb", "postgres"):
        cfg = backend_config(request, tmp_path / backend, monkeypatch, backend)
        ingest_bundled(cfg)
        built = build_warehouse(cfg)
        assert built.model_rows == 58_788
        out = cfg.paths.interim_dir / "extract.parquet"
        metas[backend] = extract_to_file(cfg, out)
        frames[backend] = pd.read_parquet(out)
    duck, pg = metas["duckdb"], metas["postgres"]
    assert pg.warehouse.startswith("postgresql://") and duck.warehouse.endswith(".duckdb")
    assert pg.rows == duck.rows == 58_788
    pd.testing.assert_frame_equal(frames["postgres"], frames["duckdb"])
    assert pg.content_hash == duck.content_hash == content_hash(frames["postgres"])


@pytest.mark.slow
def test_training_dag_runs_on_the_postgres_warehouse(request, tmp_path, monkeypatch):
    root = tmp_path / "project"
    root.mkdir()
    cfg = backend_config(request, root, monkeypatch, "postgres")
    config = root / "imdbops.yaml"
    warehouse = cfg.warehouse.model_dump(mode="json", exclude={"path"}) | {"max_rows": 4000}
    config.write_text(
        yaml.safe_dump(
            {
                "paths": {"root": str(root)},
                "warehouse": warehouse,
                "training": {
                    "model": "logreg",
                    "n_trials": 1,
                    "timeout_s": 20,
                    "bootstrap_samples": 100,
                },
            }  # fmt: skip
        )
    )
    env = {**os.environ, "IMDBOPS_CONFIG": str(config)}
    env.pop("IMDBOPS_FAILPOINTS", None)
    for args in (["data", "ingest", "--source", "bundled"], ["warehouse", "build"],
                 ["pipeline", "run"]):  # fmt: skip
        proc = subprocess.run(
            [IMDBOPS, *args], env=env, cwd=root, capture_output=True, text=True, timeout=900,
            check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{args}:\n{proc.stdout}\n{proc.stderr}"
    meta = json.loads((cfg.paths.interim_dir / "extract.parquet.meta.json").read_text())
    assert meta["warehouse"] == f"postgresql://imdbops@127.0.0.1:{cfg.warehouse.port}/" + (
        cfg.warehouse.database
    )
    assert meta["rows"] == 4000 and meta["table"] == "analytics.filtered_movies_incremental"
    assert (cfg.paths.processed_dir / "decision.json").exists()
    # The DAG's warehouse source is the fingerprint the build wrote (no DuckDB file at all).
    assert not cfg.warehouse.path.exists()
    assert (cfg.paths.state_dir / "warehouse-postgres.json").exists()
