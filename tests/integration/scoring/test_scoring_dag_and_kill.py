"""The imdb_scoring DAG on the Orchestrator, and a score run killed (-9) inside its publish
transaction: the previous predictions table stays intact and the next run completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
from integration.scoring.conftest import project_config
from integration.scoring.scoring_fixtures import GET_RATED, NEW, UNRATED, first_dump, later_dump

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


def test_scoring_dag_definition_imports_with_the_standard_library_only():
    probe = subprocess.run(
        [
            sys.executable, "-S", "-c",
            f"import sys; sys.path.insert(0, {str(SRC)!r}); import imdbops.scoring_dag as d; "
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
