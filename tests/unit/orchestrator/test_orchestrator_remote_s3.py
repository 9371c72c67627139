"""Run state on S3 (moto's server on 127.0.0.1): the object-store path of RemoteStore.

On S3 one PUT is all-or-nothing, so the store writes each object with a single request
(no temp object, no server-side copy) and reads it with a single GET; a re-saved manifest
rewrites only the task objects that changed. The toy chain and its helpers are those of
test_orchestrator_remote_store.py (a local folder as the store).
"""

from __future__ import annotations

import pytest
from support.servers import moto_s3
from unit.orchestrator.test_orchestrator_remote_store import calls, decisions, mod, worker

from imdbops.orchestrator import Manifest
from imdbops.orchestrator.store import RemoteStore

__all__ = ["mod"]  # the fixture, imported for the tests below

KEY, SECRET = "toy-key", "toy-secret"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3, request):
    import s3fs

    name = f"toy-{request.node.name[:30].replace('_', '-').lower()}"
    fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, endpoint_url=s3)
    fs.mkdir(name)
    options = {"endpoint_url": s3, "key": KEY, "secret": SECRET}
    return f"s3://{name}/state", options, fs


def test_a_fresh_machine_on_s3_reuses_everything_and_leaves_no_temp_object(tmp_path, mod, bucket):
    url, options, fs = bucket
    first = worker(tmp_path / "a", mod, url, options=options).run()
    assert first.ok and calls(tmp_path / "a") == ["make", "square", "total"]

    again = worker(tmp_path / "b", mod, url, options=options).run()
    assert decisions(again) == dict.fromkeys(("make", "square", "total"), "skipped")
    assert calls(tmp_path / "b") == [] and not (tmp_path / "b" / "data").exists()

    forced = worker(tmp_path / "b", mod, url, options=options).run(force=["total"])
    assert decisions(forced)["total"] == "ran" and calls(tmp_path / "b") == ["total"]
    assert (tmp_path / "b" / "data" / "sq" / "nested" / "count.txt").read_text() == "3"
    assert (tmp_path / "b" / "data" / "total.txt").read_text() == "5"

    fs.invalidate_cache()
    found = fs.find(url)
    assert not [p for p in found if ".tmp-" in p], found
    assert any(
        p.endswith(
            "/artifacts/squares/" + first.tasks["square"]["output_hashes"]["squares"] + ".json"
        )
        for p in found
    )
    assert (
        Manifest.load(RemoteStore(url, options, lock_dir=tmp_path / "x"), first.run_id).data[
            "status"
        ]
        == "succeeded"
    )


def test_a_resaved_manifest_rewrites_only_what_changed(tmp_path, mod, bucket, monkeypatch):
    url, options, _ = bucket
    result = worker(tmp_path / "a", mod, url, options=options).run(run_id="r1")
    assert result.ok
    store = RemoteStore(url, options, lock_dir=tmp_path / "x")
    written: list[str] = []
    real = RemoteStore._put

    def counting(self, key, data=None, local=None):
        written.append(key)
        return real(self, key, data, local)

    monkeypatch.setattr(RemoteStore, "_put", counting)
    manifest = Manifest.load(store, "r1")
    manifest.update(note="checked")  # another machine touches only the header
    assert written == ["runs/r1/manifest.json"]
    manifest.update_task("total", note="looked at")
    assert written[1:] == ["runs/r1/tasks/total.json"]
    reloaded = Manifest.load(RemoteStore(url, options, lock_dir=tmp_path / "y"), "r1")
    assert reloaded.data["note"] == "checked"
    assert reloaded.tasks["total"]["note"] == "looked at"
    assert reloaded.tasks["make"]["state"] == "succeeded"
