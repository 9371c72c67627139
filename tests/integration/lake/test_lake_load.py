"""The load step and the lake on a local folder: layout, atomic writes, clean failures."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from imdbops import objectstore as lake_mod
from imdbops.dataops import load as load_mod
from imdbops.dataops.lake import LakeError
from imdbops.dataops.load import load_snapshot, read_latest
from imdbops.dataops.schemas import DataValidationError, validate_raw_file
from imdbops.dataops.versioning import md5_file


def write_extract(path: Path, n: int = 30, rating: object = 7.5) -> Path:
    pd.DataFrame(
        {
            "tconst": [f"tt{i:07d}" for i in range(1, n + 1)],
            "primaryTitle": [f"Title {i}" for i in range(n)],
            "genres": ["Drama,Romance" if i % 2 else "" for i in range(n)],
            "startYear": pd.array([1990 + i % 30 for i in range(n)], dtype="Int64"),
            "runtimeMinutes": pd.array([None] + [90] * (n - 1), dtype="Int64"),
            "averageRating": [rating] * n,
            "numVotes": pd.array([100] * n, dtype="Int64"),
        }
    ).to_parquet(path)
    return path


def lake_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_load_writes_raw_csv_and_lake_snapshot(cfg):
    extract = write_extract(cfg.paths.interim_dir / "extract.parquet")
    result = load_snapshot(cfg, extract)
    raw = cfg.paths.raw_dir / "movies.csv"
    assert result.raw_csv == raw and result.n_rows == 30
    assert result.md5 == md5_file(raw)
    lake_root = Path(cfg.lake.url)
    assert lake_files(lake_root) == [
        f"raw/movies/{result.md5}/movies.csv",
        "raw/movies/latest.json",
    ]
    assert (lake_root / f"raw/movies/{result.md5}/movies.csv").read_bytes() == raw.read_bytes()
    assert read_latest(cfg)["md5"] == result.md5
    assert validate_raw_file(cfg, raw).ok, "the raw CSV keeps the extract's contract"
    assert load_snapshot(cfg, extract).uploaded is False, "same snapshot: no second upload"


def test_crash_mid_upload_leaves_no_partial_file_or_temp(cfg, monkeypatch):
    extract = write_extract(cfg.paths.interim_dir / "extract.parquet", n=2000)

    def half_then_crash(src, dst, progress=None, point=None):
        dst.write(src.read(1000))
        raise RuntimeError("simulated crash halfway through the copy")

    monkeypatch.setattr(lake_mod, "_copy_chunks", half_then_crash)
    with pytest.raises(RuntimeError, match="halfway"):
        load_snapshot(cfg, extract)
    lake_root = Path(cfg.lake.url)
    assert lake_files(lake_root) == [], "neither a half object, a temp, nor a pointer"
    monkeypatch.undo()
    assert load_snapshot(cfg, extract).uploaded


def test_killed_process_never_exposes_a_half_file(cfg, monkeypatch):
    """SIGKILL inside the upload (failpoint): the final key and pointer never appear."""
    extract = write_extract(cfg.paths.interim_dir / "extract.parquet")
    script = (
        "import sys; from imdbops.config import load_config;"
        "from imdbops.dataops.load import load_snapshot;"
        f"load_snapshot(load_config(paths={{'root': {str(cfg.paths.root)!r}}}), sys.argv[1])"
    )
    env = {**os.environ, "IMDBOPS_FAILPOINTS": "load.lake_put:kill"}
    env.pop("IMDBOPS_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", script, str(extract)], env=env, check=False)
    assert proc.returncode == -9
    names = lake_files(Path(cfg.lake.url))
    assert not [n for n in names if n.endswith("movies.csv") or n.endswith("latest.json")]
    assert [n for n in names if ".tmp-" in n], "the killed writer's temp is all that is left"
    # The next load sweeps temps that are old enough to belong to a dead writer.
    monkeypatch.setattr(load_mod, "STALE_TMP_S", 0.0)
    assert load_snapshot(cfg, extract).uploaded, "a rerun completes"
    assert not [n for n in lake_files(Path(cfg.lake.url)) if ".tmp-" in n]


def test_full_disk_fails_cleanly_naming_the_path(cfg, monkeypatch):
    extract = write_extract(cfg.paths.interim_dir / "extract.parquet")

    def disk_full(src, dst, progress=None, point=None):
        dst.write(src.read(10))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(lake_mod, "_copy_chunks", disk_full)
    with pytest.raises(LakeError) as info:
        load_snapshot(cfg, extract)
    assert "No space left on device" in str(info.value)
    assert str(Path(cfg.lake.url)) in str(info.value)
    assert lake_files(Path(cfg.lake.url)) == []


def test_unwritable_lake_path_fails_cleanly(cfg):
    blocker = cfg.paths.root / "not-a-folder"
    blocker.write_text("a file where the lake folder should be")
    cfg.lake.url = str(blocker / "lake")
    extract = write_extract(cfg.paths.interim_dir / "extract.parquet")
    with pytest.raises(LakeError) as info:
        load_snapshot(cfg, extract)
    assert str(blocker / "lake") in str(info.value)


def test_bad_extract_halts_before_load_and_push(cfg):
    """The pipeline order: a failing validation means no raw CSV, no lake write, no push."""
    from imdbops.dataops.versioning import add, push

    extract = write_extract(cfg.paths.interim_dir / "extract.parquet", rating=11.0)
    with pytest.raises(DataValidationError):
        validate_raw_file(cfg, extract)
        result = load_snapshot(cfg, extract)  # pragma: no cover - must not run
        add(cfg, result.raw_csv)
        push(cfg)
    assert not (cfg.paths.raw_dir / "movies.csv").exists()
    assert not Path(cfg.lake.url).exists()
    report = json.loads((cfg.paths.reports_dir / "validation" / "raw.json").read_text())
    assert report["failures"][0]["column"] == "averageRating"
