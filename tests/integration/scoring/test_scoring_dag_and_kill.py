"""The imdb_scoring DAG on the Orchestrator, and a score run killed (-9) inside its publish
transaction: the previous predictions table stays intact and the next run completes it."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from integration.scoring.conftest import project_config
from support.scoring_fixtures import GET_RATED, NEW, UNRATED, first_dump, later_dump

from imdbops.config_view import UndeclaredConfigKeyError
from imdbops.dataops.lake import open_lake
from imdbops.dataops.predictions_store import count_predictions
from imdbops.dataops.warehouse import ingest_imdb

IMDBOPS = str(Path(sys.executable).parent / "imdbops")
SRC = Path(__file__).resolve().parents[3] / "src"


def _project(tmp_path: Path, shared: dict):
    return project_config(tmp_path, shared)


def _score(config: Path, *args: str, failpoint: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "IMDBOPS_FAILPOINTS"}
    env["IMDBOPS_CONFIG"] = str(config)
    if failpoint:
        env["IMDBOPS_FAILPOINTS"] = failpoint
    return subprocess.run(
        [IMDBOPS, "score", *args], env=env, cwd=config.parent, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def _rows(cfg) -> list[tuple]:
    with duckdb.connect(str(cfg.warehouse.path), read_only=True) as con:
        return con.execute("select * from main.predictions order by tconst").fetchall()


def test_kill_during_publish_keeps_the_table_and_the_next_run_completes(tmp_path, shared_tracking):
    cfg, config = _project(tmp_path, shared_tracking)
    ingest_imdb(cfg, *first_dump(tmp_path / "dump1"))
    assert _score(config, "--warehouse").returncode == 0
    before = _rows(cfg)
    assert len(before) == len(UNRATED)

    ingest_imdb(cfg, *later_dump(tmp_path / "dump2"))
    killed = _score(config, "--warehouse", failpoint="score.publish:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _rows(cfg) == before  # the transaction never committed

    done = _score(config, "--warehouse", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows_scored"] == len(NEW) + 1  # the new titles and the retitled one
    after = _rows(cfg)
    assert len(after) == len(UNRATED) + len(NEW)
    # The killed run's scratch files are removed by the next run.
    assert not list((cfg.paths.state_dir / "scoring").iterdir())


def test_scoring_dag_on_the_orchestrator_is_incremental(tmp_path, shared_tracking):
    from imdbops.cli.score import _runner

    cfg, _ = _project(tmp_path, shared_tracking)
    ingest_imdb(cfg, *first_dump(tmp_path / "dump1"))
    dag, runner, progress = _runner(cfg, 1, live=False)
    assert dag.topological_order() == ["extract_unrated", "score", "publish"]
    with progress:
        first = runner.run(run_id="first")
    assert first.ok, first.error_summary()
    published = json.loads((cfg.paths.processed_dir / "scoring" / "published.json").read_text())
    assert published["inserted"] == len(UNRATED)

    ingest_imdb(cfg, *later_dump(tmp_path / "dump2"))
    dag, runner, progress = _runner(cfg, 1, live=False)
    with progress:
        second = runner.run(run_id="second")
    assert second.ok, second.error_summary()
    published = json.loads((cfg.paths.processed_dir / "scoring" / "published.json").read_text())
    assert published["rows"] == len(NEW) + 1 and published["inserted"] == len(NEW)
    assert published["replaced"] == 1
    assert len(_rows(cfg)) == len(UNRATED) + len(NEW)
    assert all(i not in GET_RATED for i in NEW)

    # Nothing new: score and publish are hits, the lake copy checked (external output). The
    # extract re-runs because publishing rewrote the DuckDB file (its hashed source); its
    # output is unchanged, so the score hits.
    dag, runner, progress = _runner(cfg, 1, live=False)
    with progress:
        third = runner.run(run_id="third")
    assert third.tasks["score"]["decision"] == "skipped", third.error_summary()
    assert third.tasks["publish"]["decision"] == "skipped"
    # The lake copy disappears: publish alone re-runs, saying why, and puts it back.
    lake_copy = published["lake_copy"]
    lake = open_lake(cfg)
    lake.fs.rm(lake.path(lake_copy["key"]))
    dag, runner, progress = _runner(cfg, 1, live=False)
    with progress:
        fourth = runner.run(run_id="fourth")
    ran = {n for n, t in fourth.tasks.items() if t["decision"] == "ran"}
    assert ran == {"publish"}, fourth.error_summary()
    assert fourth.tasks["publish"]["reasons"] == [
        f"external output missing: {lake.url_for(lake_copy['key'])}"
    ]
    assert lake.fs.exists(lake.path(lake_copy["key"]))
    assert len(_rows(cfg)) == len(UNRATED) + len(NEW)


def test_an_undeclared_config_read_in_a_scoring_step_fails_naming_task_key_and_fix(
    tmp_path, shared_tracking
):
    from imdbops.orchestrator import Runner
    from imdbops.pipelines.scoring import PIPELINE, TASK_SPECS, build_dag

    cfg, _ = _project(tmp_path, shared_tracking)
    ingest_imdb(cfg, *first_dump(tmp_path / "dump1"))
    # The score step reads tracking.model_name (to load the champion): drop its declaration.
    specs = tuple(
        dataclasses.replace(s, params=tuple(p for p in s.params if p != "tracking.model_name"))
        if s.name == "score"
        else s
        for s in TASK_SPECS
    )
    dag = build_dag(
        cfg, str(shared_tracking["version"]), dataclasses.replace(PIPELINE, specs=specs)
    )
    runner = Runner(dag, runs_dir=cfg.paths.runs_dir, cache_dir=cfg.paths.state_dir / "o")
    result = runner.run(only=["extract_unrated", "score"])
    assert result.tasks["extract_unrated"]["decision"] == "ran", result.error_summary()
    assert result.tasks["score"]["error"].startswith(
        "UndeclaredConfigKeyError: task 'score' read config key 'tracking.model_name' without "
        "declaring it; declare it in TaskSpec('score') in src/imdbops/pipelines/scoring.py"
    )
    assert count_predictions(cfg) == 0  # nothing published
    # Every step's config is its own view: a key no scoring step declares is refused.
    publish_cfg = build_dag(cfg, "1").tasks["publish"].resources["cfg"]
    with pytest.raises(
        UndeclaredConfigKeyError, match="task 'publish' read config key 'monitoring"
    ):
        publish_cfg.monitoring.performance_drop  # noqa: B018
    assert publish_cfg.lake.url == cfg.lake.url


def test_scoring_dag_definition_imports_with_the_standard_library_only():
    probe = subprocess.run(
        [
            sys.executable, "-S", "-c",
            f"import sys; sys.path.insert(0, {str(SRC)!r}); import imdbops.pipelines.scoring as d; "
            "print(d.TASK_NAMES, d.EDGES, sorted(m for m in sys.modules if m.startswith("
            "('pydantic', 'yaml', 'rich', 'pandas', 'duckdb', 'mlflow'))))",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == (
        "('extract_unrated', 'score', 'publish') "
        "(('extract_unrated', 'score'), ('score', 'publish')) []"
    )
