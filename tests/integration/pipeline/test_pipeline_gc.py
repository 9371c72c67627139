"""``imdbops gc`` on a real project: three real training-DAG runs (three datasets, three
registered versions in a real MLflow store, lake snapshots, DVC objects, Optuna studies),
drift report folders, then gc with small retention settings.

Asserts what a kept version or the next run needs survives (``model reproduce`` of a kept
version passes; a no-change ``pipeline run`` skips every task), the rest goes, a dry run
removes nothing, and a gc killed with SIGKILL mid-removal (a real ``imdbops gc`` process)
is finished by the next one to exactly the state an uninterrupted gc leaves.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from support.pipeline_kit import ROWS, tiny_settings
from typer.testing import CliRunner

from imdbops import clock
from imdbops.cli import app
from imdbops.dataops.versioning.cache import object_key
from imdbops.lifecycle.items import journal_path
from imdbops.lifecycle.studies import _names as study_names
from imdbops.mlops.registry import ARCHIVED_TAG, delete_alias
from imdbops.mlops.registry_read import list_versions
from imdbops.mlops.tracking import get_client

pytestmark = pytest.mark.slow
IMDBOPS = str(Path(sys.executable).parent / "imdbops")
SKIP_IN_STATE = ("logs/", ".imdbops/gc/", ".imdbops/cache/registry/")


def _query(rows: int) -> str:
    from imdbops.config import Config
    from imdbops.dataops.extract import build_query

    # Not load_config: the project's own file (IMDBOPS_CONFIG) sets extract_query already.
    return build_query(Config.model_validate({"warehouse": {"max_rows": rows}}))


def _cli(*args: str) -> str:
    """An ``imdbops`` command in this process (MLflow is imported once for the whole test)."""
    out = CliRunner().invoke(app, list(args))
    assert out.exit_code == 0, out.output
    return out.output


def state(cfg) -> dict:
    """Every file gc may touch (name -> size), each version's tag names, the studies."""
    root = cfg.paths.root
    files = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(SKIP_IN_STATE) or path.suffix == ".lock" or ".db" in path.name:
            continue  # logs, lock files (they hold the last holder's pid), the databases
        if path.is_file():
            files[rel] = path.stat().st_size
    versions = {r["version"]: sorted(r["tags"]) for r in list_versions(cfg)}
    return {"files": files, "versions": versions, "studies": sorted(study_names(cfg))}


def _gc(project, *args: str, failpoints: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "IMDBOPS_CONFIG": str(project.config_file)}
    env.pop("IMDBOPS_FAILPOINTS", None)
    if failpoints:
        env["IMDBOPS_FAILPOINTS"] = failpoints
    return subprocess.run(
        [IMDBOPS, "gc", *args], cwd=project.root, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def _gc_after_run_and_turns(project, cfg, reports: Path, monkeypatch) -> None:
    """``retention.gc_after_run``, then a real ``imdbops gc`` and a run taking turns."""
    # A no-change `pipeline run` after gc, with retention.gc_after_run: it skips every task
    # (gc left all it needs), then gc removes what that run made old (the previous run; a
    # report beyond keep_reports).
    (reports / "20260104T000000Z").mkdir()
    runs_before = {p.name for p in cfg.paths.runs_dir.iterdir()}
    monkeypatch.setenv("IMDBOPS_RETENTION__GC_AFTER_RUN", "true")
    out = _cli("pipeline", "run")
    monkeypatch.delenv("IMDBOPS_RETENTION__GC_AFTER_RUN")
    run_id = re.search(r"^run (\S+) succeeded", out, re.MULTILINE).group(1)
    manifest = json.loads((cfg.paths.runs_dir / run_id / "manifest.json").read_text())
    assert {t["decision"] for t in manifest["tasks"].values()} == {"skipped"}
    removed = len(runs_before) + 1  # every older run (retention.keep_runs: 1), one report
    assert f"gc after the run (retention.gc_after_run): removed {removed} item(s)" in out, out
    assert {p.name for p in cfg.paths.runs_dir.iterdir()} == {run_id}
    assert not (reports / "20260103T000000Z").exists()

    # gc holds the locks a run takes: a run refuses, or waits its turn with a wait.
    from imdbops.cli.pipeline import _runner
    from imdbops.orchestrator.lock import RunLockedError, run_lock
    from imdbops.run_state import state_store

    points = project.root.parent / "failpoints"
    points.mkdir()
    env = {**os.environ, "IMDBOPS_FAILPOINTS": "gc.locked:pause",
           "IMDBOPS_FAILPOINTS_DIR": str(points)}  # fmt: skip
    paused = subprocess.Popen([IMDBOPS, "gc"], cwd=project.root, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        for _ in range(1200):  # the gc process starts and takes its locks
            if (points / "gc.locked.hit").exists() or paused.poll() is not None:
                break
            time.sleep(0.1)
        assert (points / "gc.locked.hit").exists(), paused.communicate()[0]
        with pytest.raises(RunLockedError, match="another run of this DAG is in progress"):
            project.run()
        _, runner, progress = _runner(project.config(), 2, live=False, lock_wait_s=300)
        waited: dict = {}

        def queued_run() -> None:
            with progress:
                waited["result"] = runner.run()

        queued = threading.Thread(target=queued_run)
        queued.start()
        time.sleep(1.0)
        assert queued.is_alive()  # waiting for the lock gc holds
        released = clock.now()
        (points / "gc.locked.go").touch()
        assert paused.wait(timeout=300) == 0, paused.communicate()[0]
        queued.join(timeout=300)
    finally:
        (points / "gc.locked.go").touch()
        if paused.poll() is None:
            paused.kill()
    result = waited["result"]
    assert result.ok and {i["decision"] for i in result.tasks.values()} == {"skipped"}
    # It started (opened its manifest) only once gc had let go.
    assert datetime.fromisoformat(result.manifest.data["started_at"]) >= released

    # A run holds its DAG's lock: gc refuses at once, or waits for it with --wait.
    lock = state_store(cfg).lock_path("imdb_training")
    with run_lock(lock):
        out = CliRunner().invoke(app, ["gc"])
    assert out.exit_code == 1 and "gc waits for no running pipeline" in out.output, out.output
    holding = contextlib.ExitStack()
    holding.enter_context(run_lock(lock))
    release = threading.Timer(1.0, holding.close)
    release.start()
    started = time.monotonic()
    assert "removed" in _cli("gc", "--wait", "120")
    assert time.monotonic() - started >= 0.9  # it ran once the run's lock was free
    release.join()


def test_gc_keeps_what_kept_versions_and_runs_need_and_survives_a_kill(project, monkeypatch):
    # Three datasets -> three versions, three lake snapshots, three studies. The last run
    # uses the config file as is, so a later plain `pipeline run` is a no-change run.
    for overrides in ({"extract_query": _query(ROWS - 100)}, {"extract_query": _query(ROWS - 50)}):
        assert project.run(warehouse=overrides).ok
    last = project.run()
    assert last.ok
    settings = {**tiny_settings(), "retention": {"keep_versions": 1, "keep_runs": 1,
                                                 "keep_reports": 1, "keep_logs": 1}}  # fmt: skip
    project.config_file.write_text(yaml.safe_dump(settings))
    cfg = project.config()
    reports = cfg.monitoring.reports_dir
    for run_id in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        (reports / run_id).mkdir(parents=True)
        (reports / run_id / "report.html").write_text("<html>" + "x" * 4096)
    (reports / "latest.json").write_text(json.dumps({"run_id": "20260101T000000Z"}))
    old_logs = {f"2020010{d}T000000-pipeline-{d}.jsonl" for d in (1, 2)}
    cfg.paths.logs_dir.mkdir(parents=True, exist_ok=True)
    for name in old_logs:  # older than this test's commands' logs (keep_logs: 1)
        (cfg.paths.logs_dir / name).write_text('{"msg": "an old run"}\n')
        os.utime(cfg.paths.logs_dir / name, (1.6e9, 1.6e9))  # and than min_age_hours

    # The gate may have left `challenger` on an older version; clear it (a declared output of
    # no task), so the champion is the only alias and at least one of v1, v2 is archived.
    delete_alias(cfg, "challenger")
    rows = list_versions(cfg)
    assert [r["version"] for r in rows] == ["3", "2", "1"]
    kept = {r["version"] for r in rows if r["aliases"]} | {"3"}  # the champion, the newest
    archived = {"1", "2"} - kept
    assert len(archived) >= 1 and len(kept) + len(archived) == 3, rows
    md5 = {r["version"]: r["tags"]["data_md5"] for r in rows}
    assert len(set(md5.values())) == 3
    before = state(cfg)

    # The dry run lists what would go and why, and removes nothing.
    monkeypatch.chdir(project.root)
    dry = _cli("gc", "--dry-run", "--json")
    plan = json.loads(dry[dry.index("{") :])
    assert state(cfg) == before
    planned = {(i["kind"], i["target"]) for i in plan["remove"]}
    runs_before = {p.name for p in cfg.paths.runs_dir.iterdir()}
    assert {t for k, t in planned if k == "run"} == runs_before - {last.run_id}
    assert {t for k, t in planned if k == "model_version"} == archived
    assert {t for k, t in planned if k == "lake_snapshot"} == {md5[v] for v in archived}
    assert {t for k, t in planned if k == "dvc_object"} == {md5[v] for v in archived}
    assert {t for k, t in planned if k == "drift_report"} == {"20260102T000000Z"}
    assert len([k for k, _ in planned if k == "study"]) == len(archived)
    # The local DVC cache: the archived versions' data goes, never a kept one's.
    cached = {t for k, t in planned if k == "dvc_cache"}
    assert {md5[v] for v in archived} <= cached and not cached & {md5[v] for v in kept}
    # The MLflow runs tuning left (a tune run with its trial) of each study that goes.
    tuning = [i for i in plan["remove"] if i["kind"] == "tuning_run"]
    assert len(tuning) == len(archived) and all(len(i["detail"]["trials"]) == 1 for i in tuning)
    assert old_logs <= {t for k, t in planned if k == "log_file"}
    assert all(i["reason"] for i in plan["remove"])

    backup = project.root.parent / (project.root.name + "-backup")
    shutil.copytree(project.root, backup, symlinks=True)

    # 1. An uninterrupted gc.
    assert "removed" in _cli("gc")
    after = state(cfg)
    lake, remote = Path(cfg.lake.url), Path(cfg.lake.url) / "dvc"
    for version in archived:
        assert ARCHIVED_TAG in after["versions"][version]  # lineage and metrics stay
        assert not (lake / "raw" / "movies" / md5[version]).exists()
        assert not (remote / object_key(md5[version])).exists()
        assert not (cfg.paths.cache_dir / object_key(md5[version])).exists()
    for version in kept:
        assert ARCHIVED_TAG not in after["versions"][version]
        assert (remote / object_key(md5[version])).exists()
    assert {p.name for p in cfg.paths.runs_dir.iterdir()} == {last.run_id}
    assert sorted(p.name for p in reports.iterdir() if p.is_dir()) == [
        "20260101T000000Z",  # latest.json names it
        "20260103T000000Z",
    ]
    assert len(after["studies"]) == 3 - len(archived)
    client = get_client(cfg)
    for item in tuning:
        for run_id in [item["target"], *item["detail"]["trials"]]:
            assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    kept_tuning = client.search_runs(
        [client.get_experiment_by_name(cfg.tracking.experiment).experiment_id],
        filter_string="tags.`imdbops.step` = 'tune'",
    )
    assert len(kept_tuning) == 3 - len(archived)  # the kept versions' studies keep theirs
    assert not any((cfg.paths.logs_dir / name).exists() for name in old_logs)
    assert not journal_path(cfg).exists()
    assert len(after["files"]) < len(before["files"])

    # What a kept version and the next run need is all there.
    out = CliRunner().invoke(
        app, ["model", "reproduce", "3", "--workdir", str(backup.parent / "rebuild"), "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output[out.output.index("{") :])["reproduced"] is True
    gone = sorted(archived)[0]
    out = CliRunner().invoke(app, ["model", "reproduce", gone, "--workdir", str(backup / "x")])
    assert out.exit_code == 1 and "was archived" in out.output
    # The next (no-change) run skips every task; then gc and runs take turns.
    _gc_after_run_and_turns(project, cfg, reports, monkeypatch)

    # 2. The same gc from the same start, killed in the middle of archiving a version (runs
    # and reports already removed, one artifact folder deleted, the version not yet tagged).
    shutil.rmtree(project.root)
    shutil.copytree(backup, project.root, symlinks=True)
    killed = _gc(project, failpoints="gc.archive.after_delete:kill")
    assert killed.returncode == -9, killed.stderr
    assert journal_path(cfg).exists()
    middle = state(cfg)
    assert middle != before and middle != after
    assert all(ARCHIVED_TAG not in tags for tags in middle["versions"].values())
    monkeypatch.chdir(project.root)  # the folder was replaced
    assert "interrupted gc" in _cli("gc", "--dry-run") and state(cfg) == middle

    finished = _gc(project)
    assert finished.returncode == 0, finished.stderr
    assert state(cfg) == after
    assert not journal_path(cfg).exists()
    assert "would remove 0 item(s)" in _cli("gc", "--dry-run")
    shutil.rmtree(backup)
