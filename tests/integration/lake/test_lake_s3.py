"""The lake and the versioning remote on S3 (moto's server on 127.0.0.1 stands in for AWS)."""

from __future__ import annotations

import shutil
import uuid

import pandas as pd
import pytest
from support.ports import free_port

from imdbops import objectstore as lake_mod
from imdbops.dataops.lake import Lake
from imdbops.dataops.load import load_snapshot, read_latest
from imdbops.dataops.versioning import CorruptObjectError, add, pull, push, status
from imdbops.dataops.versioning.cache import object_key


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_cfg(cfg, s3_endpoint, monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    cfg.lake.url = f"s3://{bucket}/imdbops"
    cfg.lake.storage_options = {"endpoint_url": s3_endpoint}
    Lake(f"s3://{bucket}", cfg.lake.storage_options).fs.mkdir(bucket)
    return cfg


def keys(cfg) -> list[str]:
    lake = Lake(cfg.lake.url, cfg.lake.storage_options)
    root = lake.root + "/"
    return sorted(p.removeprefix(root) for p in lake.fs.find(lake.root))


def test_load_to_s3_and_version_roundtrip(s3_cfg):
    cfg = s3_cfg
    extract = cfg.paths.interim_dir / "extract.parquet"
    pd.DataFrame(
        {
            "tconst": ["tt0000001", "tt0000002"],
            "primaryTitle": ["Carmencita", "Le clown et ses chiens"],
            "genres": ["Documentary,Short", "Animation,Short"],
            "startYear": pd.array([1894, 1892], dtype="Int64"),
            "runtimeMinutes": pd.array([1, None], dtype="Int64"),
            "averageRating": [5.7, 5.5],
            "numVotes": pd.array([2100, 290], dtype="Int64"),
        }
    ).to_parquet(extract)
    result = load_snapshot(cfg, extract)
    assert result.lake_url == f"{cfg.lake.url}/raw/movies/{result.md5}/movies.csv"
    assert read_latest(cfg)["md5"] == result.md5

    out = add(cfg, result.raw_csv)
    assert push(cfg).pushed == [out.md5]
    assert f"dvc/{object_key(out.md5)}" in keys(cfg)
    assert [e.on_remote for e in status(cfg, check_remote=True)] == [True]
    assert not [k for k in keys(cfg) if ".tmp-" in k]

    original = result.raw_csv.read_bytes()
    result.raw_csv.unlink()
    shutil.rmtree(cfg.paths.cache_dir)
    pull(cfg)
    assert result.raw_csv.read_bytes() == original


def test_s3_crash_mid_upload_cleans_up(s3_cfg, monkeypatch):
    cfg = s3_cfg
    data = cfg.paths.raw_dir / "movies.csv"
    data.write_bytes(b"x" * 5000)
    add(cfg, data)

    def half_then_crash(src, dst, progress=None, point=None):
        dst.write(src.read(2500))
        raise RuntimeError("connection dropped halfway")

    monkeypatch.setattr(lake_mod, "_copy_chunks", half_then_crash)
    with pytest.raises(RuntimeError, match="halfway"):
        push(cfg)
    assert keys(cfg) == [], "no partial object and no .tmp- key left behind"


def test_s3_corrupted_object_is_refused(s3_cfg):
    cfg = s3_cfg
    data = cfg.paths.raw_dir / "movies.csv"
    data.write_text("a,b\n1,2\n")
    out = add(cfg, data)
    push(cfg)
    lake = Lake(cfg.lake.url, cfg.lake.storage_options)
    lake.fs.pipe(lake.path(f"dvc/{object_key(out.md5)}"), b"evil")
    shutil.rmtree(cfg.paths.cache_dir)
    data.write_text("untouched")
    with pytest.raises(CorruptObjectError) as info:
        pull(cfg, data)
    assert out.md5 in str(info.value) and cfg.lake.url in str(info.value)
    assert data.read_text() == "untouched"


def test_s3_missing_object_names_md5_and_remote(s3_cfg):
    from imdbops.dataops.versioning import MissingObjectError

    cfg = s3_cfg
    data = cfg.paths.raw_dir / "movies.csv"
    data.write_text("never pushed\n")
    out = add(cfg, data)
    shutil.rmtree(cfg.paths.cache_dir)
    with pytest.raises(MissingObjectError) as info:
        pull(cfg, data)
    assert out.md5 in str(info.value) and f"{cfg.lake.url}/dvc" in str(info.value)
    assert data.read_text() == "never pushed\n"
