"""Running toy DAGs: parallelism, retries, timeouts, failures and the manifest."""

from __future__ import annotations

import json

import pytest

from imdbops.orchestrator import DAG, Manifest, Runner, Task


def _runner(tmp_path, dag, **kw):
    return Runner(
        dag,
        runs_dir=tmp_path / "runs",
        cache_dir=tmp_path / "cache",
        resources={"log_dir": tmp_path / "log"},
        **kw,
    )


def test_independent_tasks_overlap(tmp_path, toy):
    mod, _ = toy
    tasks = [
        Task("s1", mod.sleepy, outputs={"out": "o1"}, params={"seconds": 0.6}),
        Task("s2", mod.sleepy, outputs={"out": "o2"}, params={"seconds": 0.6}),
    ]
    dag = DAG("par", tasks, catalog={"o1": tmp_path / "o1", "o2": tmp_path / "o2"})
    result = _runner(tmp_path, dag, workers=2).run()
    assert result.ok, result.error_summary()
    s1, s2 = result.tasks["s1"], result.tasks["s2"]
    # Each interval starts before the other ends: they ran at the same time.
    assert s1["start"] < s2["end"] and s2["start"] < s1["end"]


def test_one_worker_runs_sequentially_in_topological_order(tmp_path, toy, read_calls):
    mod, _ = toy
    tasks = [
        Task("total", mod.total, inputs=["squares"], outputs=["total"]),
        Task("square", mod.square, inputs=["numbers"], outputs=["squares"]),
        Task("make", mod.make, outputs=["numbers"], params={"n": 4}),
    ]
    catalog = {k: tmp_path / "data" / k for k in ("numbers", "squares", "total")}
    result = _runner(tmp_path, DAG("chain", tasks, catalog), workers=1).run()
    assert result.ok
    assert read_calls(tmp_path / "log") == ["make", "square", "total"]
    assert (tmp_path / "data" / "total").read_text() == "14"
    starts = [result.tasks[n]["start"] for n in ("make", "square", "total")]
    ends = [result.tasks[n]["end"] for n in ("make", "square", "total")]
    assert ends[0] <= starts[1] and ends[1] <= starts[2]


def test_retries_with_backoff_then_success(tmp_path, toy, read_calls):
    mod, _ = toy
    t = Task("flaky", mod.flaky, outputs=["out"], params={"failures": 2}, retries=2)
    t.retry_backoff_s = 0.01
    result = _runner(tmp_path, DAG("retry", [t], {"out": tmp_path / "out"})).run()
    assert result.ok
    assert result.tasks["flaky"]["attempts"] == 3
    assert read_calls(tmp_path / "log") == ["flaky"] * 3
    assert (tmp_path / "out").read_text() == "ok after 3"


def test_retries_exhausted_fail_with_the_last_error(tmp_path, toy):
    mod, _ = toy
    t = Task("flaky", mod.flaky, outputs=["out"], params={"failures": 5}, retries=1)
    t.retry_backoff_s = 0.01
    result = _runner(tmp_path, DAG("retry", [t], {"out": tmp_path / "out"})).run()
    assert not result.ok and result.failed == ["flaky"]
    info = result.tasks["flaky"]
    assert info["error"] == "ConnectionError: transient failure 2"
    assert "attempt 1: ConnectionError" in info["attempt_errors"][0]


def test_timeout_kills_the_task(tmp_path, toy):
    mod, _ = toy
    t = Task("slow", mod.sleepy, outputs=["out"], params={"seconds": 30}, timeout_s=1.0)
    result = _runner(tmp_path, DAG("timeout", [t], {"out": tmp_path / "out"})).run()
    assert not result.ok
    info = result.tasks["slow"]
    assert "exceeded its timeout of 1s" in info["error"]
    assert info["duration_s"] < 25, "the task must be stopped, not awaited"
    assert not (tmp_path / "out").exists()


def test_subprocess_task_succeeds_and_reports_child_traceback(tmp_path, toy):
    mod, _ = toy
    (tmp_path / "log").mkdir()
    make = Task("make", mod.make, outputs=["numbers"], params={"n": 3}, timeout_s=60)
    bad = Task("boom", mod.boom, inputs=["numbers"], outputs=["out"], isolate=True)
    (tmp_path / "log" / "broken").touch()
    dag = DAG("iso", [make, bad], {"numbers": tmp_path / "n", "out": tmp_path / "out"})
    result = _runner(tmp_path, dag).run()
    assert result.tasks["make"]["state"] == "succeeded"
    assert json.loads((tmp_path / "n").read_text()) == [0, 1, 2]
    info = result.tasks["boom"]
    assert info["error"].startswith("ValueError: the toy task is broken")
    assert "line" in info["traceback"] and "def boom" not in info["error"]
    assert "in boom" in info["traceback"]


def test_failure_is_recorded_downstream_skipped_outputs_kept(tmp_path, toy):
    mod, _ = toy
    catalog = {k: tmp_path / k for k in ("numbers", "out", "squares")}
    tasks = [
        Task("make", mod.make, outputs=["numbers"], params={"n": 3}),
        Task("boom", mod.boom, inputs=["numbers"], outputs=["out"]),
        Task("square", mod.square, inputs={"numbers": "out"}, outputs=["squares"]),
    ]
    runner = _runner(tmp_path, DAG("fail", tasks, catalog))
    assert runner.run().ok
    before = {k: p.read_bytes() for k, p in catalog.items()}
    (tmp_path / "log" / "broken").touch()
    result = runner.run(force=["boom"])
    assert result.failed == ["boom"]
    manifest = Manifest.load(tmp_path / "runs", result.run_id).data
    assert manifest["status"] == "failed"
    assert manifest["tasks"]["boom"]["state"] == "failed"
    assert "delete the 'broken' flag" in manifest["tasks"]["boom"]["error"]
    assert "Traceback" in manifest["tasks"]["boom"]["traceback"]
    assert manifest["tasks"]["square"]["state"] == "upstream_failed"
    assert {k: p.read_bytes() for k, p in catalog.items()} == before


def test_task_that_skips_a_declared_output_fails(tmp_path, toy):
    mod, _ = toy
    dag = DAG("f", [Task("forgetful", mod.forgetful, outputs=["out"])], {"out": tmp_path / "o"})
    result = _runner(tmp_path, dag).run()
    assert "did not write its declared output out missing" in result.tasks["forgetful"]["error"]


def test_missing_source_names_the_fix(tmp_path, toy):
    mod, _ = toy
    t = Task("square", mod.square, inputs=["numbers"], outputs=["squares"])
    dag = DAG(
        "src",
        [t],
        {"numbers": tmp_path / "nope.json", "squares": tmp_path / "s"},
        sources=["numbers"],
        source_hints={"numbers": "run `make numbers` first"},
    )
    result = _runner(tmp_path, dag).run()
    assert result.tasks["square"]["error"] == (
        f"MissingInputError: task 'square': input 'numbers' does not exist at "
        f"{tmp_path / 'nope.json'}; run `make numbers` first"
    )


def test_timeout_requires_module_level_function(tmp_path):
    def local(out):
        pass

    dag = DAG("x", [Task("local", local, outputs=["o"], timeout_s=5)], {"o": tmp_path / "o"})
    result = _runner(tmp_path, dag).run()
    assert "must be defined at module level" in result.tasks["local"]["error"]


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_positive(tmp_path, workers):
    with pytest.raises(ValueError, match="workers must be at least 1"):
        Runner(DAG("x", [], {}), runs_dir=tmp_path, cache_dir=tmp_path, workers=workers)


def test_second_concurrent_run_is_refused(tmp_path, toy):
    from imdbops.orchestrator import RunLockedError
    from imdbops.orchestrator.lock import run_lock

    mod, _ = toy
    dag = DAG(
        "locked",
        [Task("make", mod.make, outputs=["numbers"], params={"n": 1})],
        {"numbers": tmp_path / "n"},
    )
    runner = _runner(tmp_path, dag)
    with run_lock(tmp_path / "cache" / "locked.lock"):
        with pytest.raises(RunLockedError, match="another run of this DAG is in progress"):
            runner.run()
    assert runner.run().ok, "the lock is released with its holder"
