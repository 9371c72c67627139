"""Run state on an object store: tasks in separate, empty folders share nothing but the URL.

Each "worker" below is its own folder: its own catalog paths, runs and lock folders. The
store is a real fsspec folder (the same code path as ``s3://``; moto's S3 is in
test_orchestrator_remote_s3.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imdbops.orchestrator import DAG, Manifest, Runner, Task, list_runs
from imdbops.orchestrator.store import ArtifactMissingError, RemoteStore


def worker(root: Path, mod, url: str, n: int = 3, options: dict | None = None) -> Runner:
    """The toy chain make -> square -> total as a machine at ``root`` would run it."""
    catalog = {
        "numbers": root / "data" / "numbers.json",
        "squares": root / "data" / "sq",  # a folder artifact
        "total": root / "data" / "total.txt",
    }
    tasks = [
        Task("make", mod.make, outputs=["numbers"], params={"n": n}),
        Task("square", mod.square_dir, inputs=["numbers"], outputs=["squares"]),
        Task("total", mod.total_dir, inputs=["squares"], outputs=["total"]),
    ]
    store = RemoteStore(url, options, lock_dir=root / "locks")
    return Runner(DAG("chain", tasks, catalog), store=store, resources={"log_dir": root / "log"})


@pytest.fixture
def mod(toy):
    module, path = toy
    Path(path).write_text(
        Path(path).read_text()
        + """

def square_dir(numbers, squares, log_dir):
    _log(log_dir, "square")
    values = json.loads(Path(numbers).read_text())
    Path(squares).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(squares) / "values.json", json.dumps([v * v for v in values]))
    atomic_write_text(Path(squares) / "nested" / "count.txt", str(len(values)))


def total_dir(squares, total, log_dir):
    _log(log_dir, "total")
    values = json.loads((Path(squares) / "values.json").read_text())
    atomic_write_text(total, str(sum(values)))
"""
    )
    import importlib

    return importlib.reload(module)


def decisions(result) -> dict[str, str]:
    return {n: i["decision"] for n, i in result.tasks.items()}


def calls(root: Path) -> list[str]:
    log = root / "log" / "calls.log"
    return log.read_text().split() if log.exists() else []


def test_a_fresh_machine_reuses_everything_and_fetches_only_what_it_runs(tmp_path, mod):
    url = str(tmp_path / "store")
    first = worker(tmp_path / "a", mod, url).run()
    assert first.ok and calls(tmp_path / "a") == ["make", "square", "total"]

    # An empty folder, nothing but the URL: no task runs and nothing is downloaded.
    again = worker(tmp_path / "b", mod, url).run()
    assert decisions(again) == dict.fromkeys(("make", "square", "total"), "skipped")
    assert calls(tmp_path / "b") == [] and not (tmp_path / "b" / "data").exists()

    # Forcing the last task there fetches its input folder, verified, then runs it.
    forced = worker(tmp_path / "b", mod, url).run(force=["total"])
    assert decisions(forced)["total"] == "ran" and calls(tmp_path / "b") == ["total"]
    assert (tmp_path / "b" / "data" / "sq" / "nested" / "count.txt").read_text() == "3"
    assert (tmp_path / "b" / "data" / "total.txt").read_text() == "5"
    assert not list((tmp_path / "b" / "data").glob(".*tmp"))

    # A changed parameter on a third machine re-runs exactly what it changes.
    changed = worker(tmp_path / "c", mod, url, n=4).run()
    assert decisions(changed) == dict.fromkeys(("make", "square", "total"), "ran")
    assert (tmp_path / "c" / "data" / "total.txt").read_text() == "14"


def test_one_task_per_machine_then_resume_elsewhere(tmp_path, mod):
    """Airflow's shape: each task alone, in its own folder, one shared run id."""
    url = str(tmp_path / "store")
    run_id = "airflow-run-1"
    reports = {}
    for name in ("make", "square"):
        result = worker(tmp_path / f"w-{name}", mod, url).run(only=[name], run_id=run_id)
        assert result.ok, result.error_summary()
        reports[name] = result.tasks[name]["output_hashes"]
    # The last task's machine fails (say, killed); its state is its own object.
    store = RemoteStore(url, lock_dir=tmp_path / "x")
    manifest = Manifest.load(store, run_id)
    assert manifest.data["status"] == "partial"
    assert [manifest.tasks[n]["state"] for n in ("make", "square", "total")] == [
        "succeeded",
        "succeeded",
        "pending",
    ]
    # `resume` on yet another machine finishes the run without redoing finished tasks.
    resumed = worker(tmp_path / "w-resume", mod, url).run(run_id=run_id, resume=True)
    assert resumed.ok and decisions(resumed) == {
        "make": "skipped",
        "square": "skipped",
        "total": "ran",
    }
    assert calls(tmp_path / "w-resume") == ["total"]
    assert Manifest.load(store, run_id).data["status"] == "succeeded"
    assert list_runs(store) == [run_id]
    # Upstream versions handed over explicitly (Airflow's XCom) are the ones fetched.
    again = worker(tmp_path / "w-x", mod, url).run(
        only=["total"], force=["total"], expected_inputs={"squares": reports["square"]["squares"]}
    )
    assert again.ok and (tmp_path / "w-x" / "data" / "total.txt").read_text() == "5"


def test_a_damaged_or_missing_artifact_is_refused_by_name(tmp_path, mod):
    url = str(tmp_path / "store")
    first = worker(tmp_path / "a", mod, url).run()
    assert first.ok, first.error_summary()
    sha = json.loads((tmp_path / "store" / "cache" / "chain" / "square.json").read_text())[
        "output_hashes"
    ]["squares"]
    stored = tmp_path / "store" / "artifacts" / "squares" / sha / "values.json"
    stored.write_text("[0, 1, 5]")  # one changed byte in the store
    broken = worker(tmp_path / "b", mod, url).run(force=["total"])
    assert not broken.ok
    error = broken.tasks["total"]["error"]
    assert "artifact 'squares'" in error and "damaged" in error and sha in error
    assert not (tmp_path / "b" / "data" / "sq").exists()  # nothing half-fetched in place

    (tmp_path / "store" / "artifacts" / "squares" / f"{sha}.json").unlink()
    # The record now points at a version the store lacks: the producer runs again.
    rerun = worker(tmp_path / "c", mod, url).run()
    assert decisions(rerun)["square"] == "ran"
    assert "output squares missing" in rerun.tasks["square"]["reasons"][0]

    store = RemoteStore(url, lock_dir=tmp_path / "x")
    with pytest.raises(ArtifactMissingError, match="re-run task 'make'"):
        store.fetch({"numbers": (tmp_path / "d" / "n.json", "0" * 64)}, {"numbers": "make"})


def test_a_killed_upload_leaves_no_version_behind(tmp_path, mod, monkeypatch):
    """The completion marker is written last: without it a version does not exist."""
    from imdbops import objectstore

    url = str(tmp_path / "store")
    real = objectstore.ObjectStore.put_file

    def crash_on_second_file(self, local, key, *args, **kwargs):
        if key.endswith("nested/count.txt"):
            raise KeyboardInterrupt("killed mid-upload")
        return real(self, local, key, *args, **kwargs)

    monkeypatch.setattr(objectstore.ObjectStore, "put_file", crash_on_second_file)
    with pytest.raises(KeyboardInterrupt):
        worker(tmp_path / "a", mod, url).run()
    monkeypatch.undo()
    found = [p.name for p in (tmp_path / "store").rglob("*")]
    assert not any(".tmp-" in n for n in found), found
    assert not (tmp_path / "store" / "cache" / "chain" / "square.json").exists()
    # The next run finds no version of squares and produces it again, whole.
    result = worker(tmp_path / "b", mod, url).run()
    assert result.ok and decisions(result)["square"] == "ran"
