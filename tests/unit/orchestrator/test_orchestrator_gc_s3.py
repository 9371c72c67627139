"""``imdbops gc`` on run state kept on S3 (moto's server on 127.0.0.1): old run manifests
and the artifact versions only they named go; what the kept run and the cache records name
stays, so a fresh machine still skips every task and fetches what it needs. The toy chain
is test_orchestrator_remote_store.py's."""

from __future__ import annotations

import pytest
from support.servers import moto_s3
from typer.testing import CliRunner
from unit.orchestrator.test_orchestrator_remote_store import calls, decisions, mod, worker

from imdbops.cli import app
from imdbops.config import load_config
from imdbops.lifecycle import gc

__all__ = ["mod"]


@pytest.fixture
def s3_state(tmp_path, monkeypatch):
    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "toy-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "toy-secret")
    with moto_s3(tmp_path) as endpoint:
        fs = s3fs.S3FileSystem(endpoint_url=endpoint)
        fs.mkdir("gc-state")
        yield "s3://gc-state/state", {"endpoint_url": endpoint}, fs


def _versions(fs, url: str) -> set[str]:
    fs.invalidate_cache()
    root = url.removeprefix("s3://")
    return {
        p.removeprefix(root + "/artifacts/").removesuffix(".json")
        for p in fs.find(f"{root}/artifacts")
        if p.endswith(".json") and p.count("/") == root.count("/") + 3
    }


def test_gc_on_s3_keeps_what_the_kept_run_and_records_name(tmp_path, mod, s3_state, monkeypatch):
    url, options, fs = s3_state
    results = [worker(tmp_path / f"w{n}", mod, url, n=n, options=options).run() for n in (3, 4, 5)]
    assert all(r.ok for r in results)
    monkeypatch.chdir(tmp_path)
    settings = {"paths": {"root": tmp_path, "artifacts_url": url,
                          "artifacts_storage_options": options}}  # fmt: skip

    # Default grace (retention.min_age_hours): versions written a moment ago may belong to a
    # task still publishing on another machine, so none is listed yet.
    fresh = gc.run(load_config(**settings, retention={"keep_runs": 1}), dry_run=True)
    assert {i.kind for i in fresh.remove} == {"run"}

    cfg = load_config(**settings, retention={"keep_runs": 1, "min_age_hours": 0})
    before = _versions(fs, url)
    planned = gc.run(cfg, dry_run=True)
    assert _versions(fs, url) == before  # a dry run removes nothing
    last = results[-1]
    kept = {f"{n}/{h}" for t in last.tasks.values() for n, h in t["output_hashes"].items()}
    old = {f"{n}/{h}" for r in results[:-1] for t in r.tasks.values()
           for n, h in t["output_hashes"].items()} - kept  # fmt: skip
    assert {i.target for i in planned.remove if i.kind == "run"} == {r.run_id for r in results[:-1]}
    assert {i.target for i in planned.remove if i.kind == "artifact"} == old
    assert len(old) == 6  # numbers, squares, total of n=3 and n=4

    monkeypatch.delenv("IMDBOPS_CONFIG", raising=False)
    out = CliRunner().invoke(
        app, ["gc"], env={"IMDBOPS_PATHS__ARTIFACTS_URL": url, "IMDBOPS_RETENTION__KEEP_RUNS": "1",
                          "IMDBOPS_RETENTION__MIN_AGE_HOURS": "0",
                          "IMDBOPS_PATHS__ARTIFACTS_STORAGE_OPTIONS__ENDPOINT_URL": options["endpoint_url"]},
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "removed 8 item(s)" in out.output
    assert _versions(fs, url) == before - old == kept
    runs = {p.rsplit("/", 1)[-1] for p in fs.ls(url.removeprefix("s3://") + "/runs")}
    assert runs == {last.run_id}

    # A new machine still reuses everything and fetches a kept version when it must.
    again = worker(tmp_path / "fresh", mod, url, n=5, options=options).run(force=["total"])
    assert again.ok and decisions(again)["square"] == "skipped"
    assert calls(tmp_path / "fresh") == ["total"]
    assert (tmp_path / "fresh" / "data" / "total.txt").read_text() == "30"
    # Now the fresh machine's run is the newest: only the one before it would go next.
    assert [(i.kind, i.target) for i in gc.run(cfg, dry_run=True).remove] == [("run", last.run_id)]


def test_gc_takes_the_store_lease_a_run_on_any_machine_takes(tmp_path, s3_state, monkeypatch):
    """With run state on an object store, a run on another machine holds its DAG's lease
    there (no local lock here): gc refuses or waits its turn, and a run waits for gc."""
    import threading

    from imdbops.objectstore import ObjectStore
    from imdbops.orchestrator.lease import LeaseHeldError, StoreLease
    from imdbops.orchestrator.lock import RunLockedError

    url, options, _ = s3_state
    monkeypatch.chdir(tmp_path)
    cfg = load_config(paths={"root": tmp_path, "artifacts_url": url,
                             "artifacts_storage_options": options})  # fmt: skip
    objects = ObjectStore(url, options)
    elsewhere = StoreLease(objects, "imdb_training", ttl_s=30)
    elsewhere.acquire()
    try:
        with pytest.raises(RunLockedError, match="holds its lease"):
            gc.run(cfg, lock_wait_s=0)
    finally:
        threading.Timer(1.0, elsewhere.release).start()
    assert gc.run(cfg, lock_wait_s=60).remove == []  # took its turn once the run let go

    # While gc holds the locks, a run on another machine cannot take the lease.
    with gc.state_locks(cfg, wait_s=0):
        other = StoreLease(objects, "imdb_training", ttl_s=30)
        with pytest.raises(LeaseHeldError):
            other.acquire()
    other.acquire()  # gc released it
    other.release()
