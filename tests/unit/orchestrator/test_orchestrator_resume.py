"""Resume: after a task failure, and after SIGKILL of the whole runner mid-task."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from imdbops.orchestrator import DAG, Manifest, Runner, Task, list_runs
from imdbops.orchestrator.cache import hash_path

# A toy DAG in its own process: make -> gated -> square -> total. ``gated`` blocks until a
# release file exists, so the test can kill the process while that task is running.
RUN_SCRIPT = """
import sys
from pathlib import Path

from imdbops.orchestrator import DAG, Runner, Task

mod_dir, module, root, run_id, resume, timeout = sys.argv[1:7]
sys.path.insert(0, mod_dir)
import importlib

mod = importlib.import_module(module)
root = Path(root)
catalog = {k: root / "data" / k for k in ("numbers", "reversed", "squares", "total")}
dag = DAG(
    "killme",
    [
        Task("make", mod.make, outputs=["numbers"], params={"n": 5}),
        Task("gated", mod.gated, inputs=["numbers"], outputs={"out": "reversed"},
             timeout_s=float(timeout) if timeout != "none" else None),
        Task("square", mod.square, inputs={"numbers": "reversed"}, outputs=["squares"]),
        Task("total", mod.total, inputs=["squares"], outputs=["total"]),
    ],
    catalog,
)
runner = Runner(dag, runs_dir=root / "runs", cache_dir=root / "cache",
                resources={"log_dir": root / "log"})
result = runner.run(run_id=run_id, resume=resume == "resume")
sys.exit(0 if result.ok else 1)
"""


def _run_script(tmp_path, toy, root, run_id, resume=False, wait=True, timeout=None):
    mod, path = toy
    script = tmp_path / "run_toy.py"
    script.write_text(textwrap.dedent(RUN_SCRIPT))
    args = [sys.executable, str(script), str(path.parent), mod.__name__, str(root), run_id]
    args += ["resume" if resume else "fresh", str(timeout or "none")]
    proc = subprocess.Popen(args, start_new_session=True)
    if wait:
        assert proc.wait(timeout=60) == 0
    return proc


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, toy, read_calls):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    (clean / "log").mkdir(parents=True)
    (clean / "log" / "release").touch()
    _run_script(tmp_path, toy, clean, "run-clean")

    proc = _run_script(tmp_path, toy, killed, "run-1", wait=False)
    started = killed / "log" / "gated.started"
    deadline = time.monotonic() + 30
    while not started.exists():
        assert proc.poll() is None, "the toy run ended before the gated task started"
        assert time.monotonic() < deadline, "gated task never started"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    crashed = Manifest.load(killed / "runs", "run-1").data
    assert crashed["status"] == "running"
    assert crashed["tasks"]["make"]["state"] == "succeeded"
    assert crashed["tasks"]["gated"]["state"] == "running"
    assert not (killed / "data" / "reversed").exists()

    (killed / "log" / "release").touch()
    _run_script(tmp_path, toy, killed, "run-1", resume=True)
    resumed = Manifest.load(killed / "runs", "run-1").data
    assert resumed["status"] == "succeeded" and len(resumed["resumed"]) == 1
    assert resumed["tasks"]["make"]["decision"] == "skipped"
    assert "before resume" in resumed["tasks"]["make"]["reasons"][0]
    assert read_calls(killed / "log").count("make") == 1, "finished tasks must not be redone"
    for name in ("numbers", "reversed", "squares", "total"):
        assert hash_path(killed / "data" / name) == hash_path(clean / "data" / name), name
    assert list_runs(killed / "runs") == ["run-1"]


def test_resume_after_failure_runs_only_what_is_left(tmp_path, toy, read_calls):
    mod, _ = toy
    log = tmp_path / "log"
    log.mkdir()
    (log / "broken").touch()
    catalog = {k: tmp_path / k for k in ("numbers", "out", "squares", "side")}
    tasks = [
        Task("make", mod.make, outputs=["numbers"], params={"n": 3}),
        Task("boom", mod.boom, inputs=["numbers"], outputs=["out"]),
        Task("square", mod.square, inputs={"numbers": "out"}, outputs=["squares"]),
        Task("side", mod.sleepy, outputs={"out": "side"}, params={"seconds": 0}),
    ]
    runner = Runner(
        DAG("resume", tasks, catalog),
        runs_dir=tmp_path / "runs",
        cache_dir=tmp_path / "cache",
        resources={"log_dir": log},
    )
    first = runner.run(run_id="r1")
    assert first.failed == ["boom"]
    assert first.tasks["side"]["state"] == "succeeded", "independent branches still run"
    (log / "broken").unlink()
    second = runner.run(run_id="r1", resume=True)
    assert second.ok and second.run_id == "r1"
    assert {n: i["decision"] for n, i in second.tasks.items()} == {
        "make": "skipped",
        "boom": "ran",
        "square": "ran",
        "side": "skipped",
    }
    assert sorted(read_calls(log)) == ["boom", "boom", "make", "sleepy", "square"]


def test_sigkill_of_the_runner_also_stops_a_task_running_in_its_own_process(tmp_path, toy):
    root = tmp_path / "proc"
    proc = _run_script(tmp_path, toy, root, "run-p", wait=False, timeout=120)
    started = root / "log" / "gated.started"
    deadline = time.monotonic() + 30
    while not (started.exists() and started.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, "gated task never started"
        time.sleep(0.05)
    worker_pid = int(started.read_text())
    assert worker_pid != proc.pid, "with a timeout the task runs in a child process"
    proc.kill()  # the runner only: the worker is in a session of its own
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(worker_pid):
        assert time.monotonic() < deadline, "the task process outlived its runner"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
