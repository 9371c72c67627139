"""kill -9 of the pipeline inside each task, then resume; and a full lake disk."""

from __future__ import annotations

import json
import subprocess

import pytest
from support.ci_guard import skip_unless_ci
from support.relkit import (
    cli,
    half_registered_versions,
    partial_lake_objects,
    project_from_template,
    register_weak_champion,
)

from imdbops.mlops.registry import alias_version

# (task, failpoint): each fires in the middle of that task's work, in the DAG's order.
KILL_POINTS = [
    ("extract", "extract.before_rename"),
    ("load", "load.lake_put"),
    ("version push", "versioning.push"),
    ("tune", "tune.after_trial"),
    ("train", "train.before_save"),
    ("register", "register.after_log"),
    ("promote", "promote.before_alias"),
]


def _project(tmp_path, template_warehouse, extra: str = ""):
    return project_from_template(tmp_path, template_warehouse, extra)


DONE = ("succeeded", "skipped")


def _tasks(cfg) -> dict[str, dict]:
    return json.loads((cfg.paths.runs_dir / "r1" / "manifest.json").read_text())["tasks"]


def _redone(before: dict[str, dict], now: dict[str, dict], killed: str) -> list[str]:
    """Tasks finished before the last kill that ran again since: a finished task is either
    left as it was or skipped ("finished ... before resume"), never re-run."""
    return sorted(
        n
        for n, t in before.items()
        if n != killed
        and t["state"] in DONE
        and now[n].get("decision") == "ran"
        and now[n].get("ended_at") != t.get("ended_at")
    )


@pytest.mark.slow
def test_kill_during_each_task_then_resume(tmp_path, template_warehouse, record):
    # One run, SIGKILLed in the middle of each task in turn: `pipeline run` dies in extract,
    # each `pipeline resume` in the next task, the last resume finishes. Every resume must
    # finish the task that was killed and redo nothing that had finished.
    config, cfg = _project(tmp_path, template_warehouse)
    champion_before = register_weak_champion(cfg)
    args = ["pipeline", "run", "--run-id", "r1"]
    # redone[i]: what the resume after kill i re-ran, known only at the next kill (or end).
    rows, redone, before, killed_task = [], [], {}, ""
    for task, point in KILL_POINTS:
        killed = cli(args, config, env={"IMDBOPS_FAILPOINTS": f"{point}:kill"})
        assert killed.returncode == -9, (task, killed.returncode, killed.stdout[-2000:],
                                         killed.stderr[-2000:])  # fmt: skip
        tasks = _tasks(cfg)
        done = sorted(n for n, t in tasks.items() if t["state"] in DONE)
        assert task.split()[0] not in done, (task, done)  # killed in it: not finished
        if rows:
            redone.append(_redone(before, tasks, killed_task))
        rows.append({"task": task, "point": point, "done": done,
                     "champion": alias_version(cfg), "half": half_registered_versions(cfg)})  # fmt: skip
        before, killed_task = tasks, task.split()[0]
        args = ["pipeline", "resume", "r1"]

    resumed = cli(args, config)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    final = _tasks(cfg)
    redone.append(_redone(before, final, killed_task))
    decision = json.loads((cfg.paths.processed_dir / "decision.json").read_text())
    champion_final = alias_version(cfg)
    expected_final = (
        decision["challenger_version"] if decision["decision"] == "PROMOTE" else champion_before
    )
    lake_final = partial_lake_objects(cfg.lake.url)
    half_final = half_registered_versions(cfg)
    # Each kill's row: what had finished, and what the resume after it redid.
    for row, rerun in zip(rows, redone, strict=True):
        ok = not (lake_final or half_final or rerun or row["half"])
        record(
            "pipeline faults",
            f"kill -9 during {row['task']}",
            f"failpoint {row['point']} SIGKILLs the runner mid-task; then `imdbops pipeline "
            "resume r1` (one run killed in each task in turn: each resume dies at the next "
            "failpoint, the last one finishes)",
            "resumed to completion; champion unchanged until promote" if ok else "FAILED",
            finished_before_kill=len(row["done"]),
            redone_after_resume=len(rerun),
            champion=f"v{champion_before}->v{row['champion']}->v{champion_final}",
            decision=decision["decision"],
            partial_lake_objects=len(lake_final),
            half_registered_versions=len(half_final),
        )
        assert rerun == [], f"finished tasks re-ran after the kill in {row['task']}: {rerun}"
        assert row["champion"] == champion_before, row
        assert row["half"] == [], row
    # Every kill found more finished than the one before: each resume made progress.
    finished = [len(r["done"]) for r in rows]
    assert finished == sorted(finished) and len(set(finished)) == len(finished), finished
    assert all(t["state"] in DONE for t in final.values()), final
    assert half_final == []
    assert lake_final == [], lake_final  # temps left by the kills: resume cleared them
    assert champion_final == expected_final
    assert decision["decision"] == "PROMOTE", decision  # a real model beats the majority one


def _mount_tiny_tmpfs(path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], capture_output=True
    )
    return proc.returncode == 0


@pytest.mark.slow
def test_full_lake_disk_fails_cleanly(tmp_path, template_warehouse, record):
    lake = tmp_path / "full-lake"
    if not _mount_tiny_tmpfs(lake):
        skip_unless_ci("mounting a 64 KB tmpfs needs root and CAP_SYS_ADMIN (CI has both)")
    try:
        config, cfg = _project(tmp_path, template_warehouse, f"lake:\n  url: {lake}\n")
        proc = cli(["pipeline", "run", "--run-id", "full"], config)
        leftovers = [p.name for p in lake.rglob("*") if p.is_file()]
    finally:
        subprocess.run(["umount", str(lake)], check=False)
    message = proc.stderr + proc.stdout
    record(
        "pipeline faults",
        "full disk under the lake",
        "lake.url on a 64 KB tmpfs; `imdbops pipeline run`",
        f"exit {proc.returncode}: load failed with a message, nothing half-written",
        exit_code=proc.returncode,
        lake_files=len(leftovers),
    )
    assert proc.returncode != 0
    assert "No space left on device" in message and str(lake) in message
    assert "Traceback" not in proc.stderr
    assert not [n for n in leftovers if ".tmp" in n]


def test_unwritable_lake_path_fails_cleanly(tmp_path, template_warehouse, record):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the lake folder should be")
    config, cfg = _project(tmp_path, template_warehouse, f"lake:\n  url: {blocker}/lake\n")
    proc = cli(["pipeline", "run", "--run-id", "ro"], config)
    message = proc.stderr + proc.stdout
    record(
        "pipeline faults",
        "unwritable lake path",
        "lake.url below a regular file; `imdbops pipeline run`",
        f"exit {proc.returncode}: load failed with a message naming the lake path",
        exit_code=proc.returncode,
    )
    assert proc.returncode != 0
    assert str(blocker) in message
    assert "Traceback" not in proc.stderr
