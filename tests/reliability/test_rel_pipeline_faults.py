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

# (task, failpoint): each fires in the middle of that task's work.
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


@pytest.mark.slow
@pytest.mark.parametrize("task,point", KILL_POINTS, ids=[k for k, _ in KILL_POINTS])
def test_kill_during_task_then_resume(tmp_path, template_warehouse, task, point, record):
    config, cfg = _project(tmp_path, template_warehouse)
    champion_before = register_weak_champion(cfg)

    killed = cli(
        ["pipeline", "run", "--run-id", "r1"], config, env={"IMDBOPS_FAILPOINTS": f"{point}:kill"}
    )
    assert killed.returncode == -9, (
        killed.returncode,
        killed.stdout[-2000:],
        killed.stderr[-2000:],
    )
    manifest = json.loads((cfg.paths.runs_dir / "r1" / "manifest.json").read_text())
    done_before = sorted(n for n, t in manifest["tasks"].items() if t["state"] == "succeeded")
    champion_after_kill = alias_version(cfg)
    half_after_kill = half_registered_versions(cfg)
    lake_after_kill = partial_lake_objects(cfg.lake.url)

    resumed = cli(["pipeline", "resume", "r1"], config)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    final = json.loads((cfg.paths.runs_dir / "r1" / "manifest.json").read_text())
    redone = sorted(
        n for n in done_before if final["tasks"][n].get("decision") == "ran" and n != task
    )
    decision = json.loads((cfg.paths.processed_dir / "decision.json").read_text())
    champion_final = alias_version(cfg)
    expected_final = (
        decision["challenger_version"] if decision["decision"] == "PROMOTE" else champion_before
    )
    lake_final = partial_lake_objects(cfg.lake.url)
    half_final = half_registered_versions(cfg)
    record(
        "pipeline faults",
        f"kill -9 during {task}",
        f"failpoint {point} SIGKILLs the runner mid-task; then `imdbops pipeline resume r1`",
        "resumed to completion; champion unchanged until promote"
        if not (lake_final or half_final or redone)
        else "FAILED",
        finished_before_kill=len(done_before),
        redone_after_resume=len(redone),
        champion=f"v{champion_before}->v{champion_after_kill}->v{champion_final}",
        decision=decision["decision"],
        partial_lake_objects=len(lake_final),
        half_registered_versions=len(half_final),
    )
    assert champion_after_kill == champion_before
    assert half_after_kill == [] and half_final == []
    assert lake_final == [], lake_final
    assert redone == [], f"finished tasks re-ran after resume: {redone}"
    assert champion_final == expected_final
    assert decision["decision"] == "PROMOTE", decision  # a real model beats the majority one
    del lake_after_kill  # temps may exist right after a kill; resume must clear them


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
