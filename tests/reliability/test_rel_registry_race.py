"""Two promotions at once end with exactly one champion and both decisions recorded."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
from reliability.relkit import IMDBOPS, write_config

from imdbops.config import load_config
from imdbops.dataops.bundled import read_bundled_movies, to_imdb_tables
from imdbops.mlops.models import get_spec
from imdbops.mlops.registry import alias_version, get_client, log_model_version, set_alias
from imdbops.mlops.split import load_split, split_file
from imdbops.mlops.transform import transform_movies

TAGS = {
    "data_md5": "0" * 32,
    "git_commit": "race",
    "trained_at": "2026-01-01T00:00:00Z",
    "model_kind": "test",
}


def _splits(cfg):
    basics, ratings = to_imdb_tables(read_bundled_movies().sample(n=4000, random_state=1))
    raw = basics.merge(ratings, on="tconst")
    raw["genres"] = raw["genres"].fillna("")
    processed = cfg.paths.processed_dir / "movies.parquet"
    processed.parent.mkdir(parents=True, exist_ok=True)
    transform_movies(raw).to_parquet(processed)
    out = cfg.paths.processed_dir / "splits"
    meta = split_file(cfg, processed, out)
    return out, meta


def _register(cfg, splits, meta, name: str, params: dict, rows: int | None = None) -> str:
    _, X, y = load_split(splits, "train")
    if rows:
        X, y = X.iloc[:rows], y[:rows]
    model = get_spec(name).build(params, 0).fit(X, y)
    info = log_model_version(
        cfg,
        model,
        metrics={},
        params=params,
        tags={**TAGS, "split_md5": meta["split_md5"]},
        input_example=X.head(3),
    )
    return info.version


def test_concurrent_promotions_leave_one_champion(tmp_path, record):
    config = write_config(tmp_path)
    cfg = load_config(config)
    splits, meta = _splits(cfg)
    weak = _register(cfg, splits, meta, "logreg", {}, rows=60)
    set_alias(cfg, weak, "champion")
    a = _register(cfg, splits, meta, "logreg", {"C": 1.0})
    b = _register(cfg, splits, meta, "logreg", {"C": 4.0})

    env = {**os.environ, "IMDBOPS_CONFIG": str(config)}
    procs = [
        subprocess.Popen(
            [IMDBOPS, "model", "promote", v, "--splits-dir", str(splits)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (a, b)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    # exit 1 is a REJECT (e.g. the second challenger regressed the new champion): a decision
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode in (0, 1) and "decision written" in out, (out, err)

    client = get_client(cfg)
    decisions = []
    for version in (a, b):
        mv = client.get_model_version(cfg.tracking.model_name, version)
        files = client.list_artifacts(mv.run_id, "promotion")
        assert len(files) == 1, f"version {version} must have exactly one decision recorded"
        local = client.download_artifacts(mv.run_id, files[0].path, str(tmp_path))
        decisions.append(json.loads(open(local).read()))
    decisions.sort(key=lambda d: d["decided_at"])
    first, second = decisions
    champion = alias_version(cfg)
    promoted = [d["challenger_version"] for d in decisions if d["decision"] == "PROMOTE"]
    # The lock serialises the two: the second saw the champion the first left behind.
    expected_seen = first["challenger_version"] if first["decision"] == "PROMOTE" else weak
    record(
        "registry",
        "two promotions at once",
        f"v{a} and v{b} promoted by two `imdbops model promote` processes started together; "
        f"champion was v{weak}",
        f"one champion (v{champion}); decisions {first['decision']} then {second['decision']}",
        decisions=len(decisions),
        champion=champion,
    )
    assert second["champion_version"] == expected_seen
    assert champion == (promoted[-1] if promoted else weak)
    assert pd.Series([d["challenger_version"] for d in decisions]).is_unique
