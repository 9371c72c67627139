"""Hit checks of the lake outputs on a local lake folder (S3 is covered in
tests/integration/pipeline/test_step_contract.py against moto servers)."""

from __future__ import annotations

import hashlib

from imdbops.dataops.lake_checks import check_lake_object, check_remote_objects


def test_local_lake_object_present_changed_and_missing(tmp_path):
    lake = tmp_path / "lake"
    obj = lake / "raw" / "movies" / "x" / "movies.csv"
    obj.parent.mkdir(parents=True)
    obj.write_bytes(b"tconst\ntt1\n")
    md5 = hashlib.md5(obj.read_bytes()).hexdigest()  # noqa: S324
    identity = {"url": str(lake), "endpoint_url": ""}
    record = {"key": "raw/movies/x/movies.csv", "md5": md5, "size": obj.stat().st_size}
    assert check_lake_object(identity, record, {}) is None
    obj.write_bytes(b"tconst\ntt2\n")  # same size, other bytes
    assert check_lake_object(identity, record, {}) == (
        f"external output changed: {lake}/raw/movies/x/movies.csv has md5 "
        f"{hashlib.md5(obj.read_bytes()).hexdigest()}, recorded {md5}"  # noqa: S324
    )
    obj.unlink()
    assert check_lake_object(identity, record, {}) == (
        f"external output missing: {lake}/raw/movies/x/movies.csv"
    )


def test_remote_objects_are_found_by_their_dvc_keys(tmp_path):
    data = b"hello"
    md5 = hashlib.md5(data).hexdigest()  # noqa: S324
    path = tmp_path / "dvc" / "files" / "md5" / md5[:2] / md5[2:]
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    identity = {"url": str(tmp_path / "dvc"), "endpoint_url": ""}
    assert check_remote_objects(identity, {"objects": {md5: None}}, {}) is None
    path.unlink()
    assert "external output missing" in check_remote_objects(identity, {"objects": {md5: None}}, {})
