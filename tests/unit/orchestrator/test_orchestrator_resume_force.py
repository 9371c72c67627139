"""A forced re-run stays forced across a kill: ``resume`` reads the force set from the run.

Before, ``pipeline run --force register`` killed with SIGKILL inside register, then ``pipeline
resume``, reported register as a cache hit (the force set was taken only from the resume
command line) and the run as succeeded, without re-running it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from imdbops.orchestrator import DAG, Manifest, Runner, Task

SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import importlib
mod = importlib.import_module(sys.argv[2])
from imdbops.orchestrator import DAG, Runner, Task
root = Path(sys.argv[3])
catalog = {k: root / "data" / k for k in ("numbers", "squares", "total")}
dag = DAG("forced", [
    Task("make", mod.make, outputs=["numbers"], params={"n": 5}),
    Task("square", mod.square, inputs=["numbers"], outputs=["squares"]),
    Task("total", mod.total, inputs=["squares"], outputs=["total"]),
], catalog)
runner = Runner(dag, runs_dir=root / "runs", cache_dir=root / "cache",
                resources={"log_dir": root / "log"})
force = sys.argv[5:]
sys.exit(0 if runner.run(run_id=sys.argv[4], force=force).ok else 1)
"""


def _runner(root: Path, mod) -> Runner:
    catalog = {k: root / "data" / k for k in ("numbers", "squares", "total")}
    dag = DAG(
        "forced",
        [
            Task("make", mod.make, outputs=["numbers"], params={"n": 5}),
            Task("square", mod.square, inputs=["numbers"], outputs=["squares"]),
            Task("total", mod.total, inputs=["squares"], outputs=["total"]),
        ],
        catalog,
    )
    return Runner(dag, runs_dir=root / "runs", cache_dir=root / "cache",
                  resources={"log_dir": root / "log"})  # fmt: skip


def _run(tmp_path, toy, run_id: str, *force: str, failpoint: str | None = None) -> int:
    mod, path = toy
    env = {k: v for k, v in os.environ.items() if k != "IMDBOPS_FAILPOINTS"}
    if failpoint:
        env["IMDBOPS_FAILPOINTS"] = failpoint
    args = [sys.executable, "-c", textwrap.dedent(SCRIPT), str(path.parent), mod.__name__]
    return subprocess.run(
        [*args, str(tmp_path), run_id, *force], env=env, timeout=120, check=False
    ).returncode


def test_resume_reruns_the_forced_task_the_kill_interrupted(tmp_path, toy, read_calls):
    assert _run(tmp_path, toy, "first") == 0  # everything cached from here on
    killed = _run(tmp_path, toy, "forced", "square", failpoint="task.square:kill")
    assert killed == -9
    crashed = Manifest.load(tmp_path / "runs", "forced").data
    assert crashed["force"] == ["square"]
    assert crashed["tasks"]["square"]["state"] == "running"

    before = len(read_calls(tmp_path / "log"))
    result = _runner(tmp_path, toy[0]).run(run_id="forced", resume=True)
    assert result.ok
    decisions = {n: i["decision"] for n, i in result.tasks.items()}
    assert decisions == {"make": "skipped", "square": "ran", "total": "skipped"}
    assert result.tasks["square"]["reasons"] == ["forced (--force/--from)"]
    assert read_calls(tmp_path / "log")[before:] == ["square"]

    # A second resume of the finished run forces nothing again.
    again = _runner(tmp_path, toy[0]).run(run_id="forced", resume=True)
    assert {i["decision"] for i in again.tasks.values()} == {"skipped"}
