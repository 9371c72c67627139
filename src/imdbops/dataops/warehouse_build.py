"""``dbt build`` over the packaged dbt project, run in-process, plus a warehouse summary.

dbt runs through ``dbtRunner`` with every path it would write (``target/``, ``logs/``)
pointed into ``paths.state_dir``, so the installed package folder stays read-only. The
DuckDB file reaches the bundled profile through ``DBT_DUCKDB_PATH``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imdbops.config import Config
from imdbops.dataops.warehouse import (
    MODEL_NAME,
    MODEL_SCHEMA,
    MODEL_TABLE,
    RAW_SCHEMA,
    Progress,
    WarehouseError,
    _table_exists,
    connect,
)
from imdbops.log import get_logger

log = get_logger("dataops.warehouse")


class WarehouseBuildError(WarehouseError):
    """dbt failed to build the model or one of its tests failed."""


@dataclass
class NodeResult:
    name: str
    kind: str  # model | test
    status: str  # success | pass | fail | error | warn | skipped
    message: str = ""
    failures: int | None = None


@dataclass
class BuildResult:
    success: bool
    target: str
    seconds: float
    model_rows: int | None = None
    inserted: int | None = None
    updated: int | None = None
    nodes: list[NodeResult] = field(default_factory=list)

    @property
    def tests(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.kind == "test"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _release_dbt_duckdb() -> None:
    """Close the DuckDB handle dbt-duckdb keeps open in this process after a run.

    dbt-duckdb caches its connection in a class attribute; while it lives, this process
    cannot open the same file with our settings (DuckDB refuses a second configuration),
    so the next ingest or extract would fail.
    """
    import gc

    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: nothing cached here
        return
    env = getattr(DuckDBConnectionManager, "_ENV", None)
    conn = getattr(env, "conn", None)
    if conn is not None:
        conn.close()
        env.conn = None
    DuckDBConnectionManager.close_all_connections()
    gc.collect()


def _model_state(cfg: Config) -> tuple[int, Any] | None:
    """(rows, max last_modified) of the model, or None before its first build."""
    if not Path(cfg.warehouse.path).exists():
        return None
    with connect(cfg, read_only=True) as con:
        if not _table_exists(con, MODEL_SCHEMA, MODEL_NAME):
            return None
        return con.execute(f"select count(*), max(last_modified) from {MODEL_TABLE}").fetchone()


def dbt_args(cfg: Config, command: str, full_refresh: bool = False) -> list[str]:
    state = Path(cfg.paths.state_dir) / "dbt"
    profiles = cfg.warehouse.dbt_profiles_dir or cfg.dbt_project_dir
    args = [
        command,
        "--project-dir", str(cfg.dbt_project_dir),
        "--profiles-dir", str(profiles),
        "--target", cfg.warehouse.dbt_target,
        "--target-path", str(state / "target"),
        "--log-path", str(state / "logs"),
        "--quiet",
        "--no-use-colors-file",
    ]  # fmt: skip
    if not sys.stdout.isatty():
        args.append("--no-use-colors")
    if full_refresh:
        args.append("--full-refresh")
    return args


def _node_results(run_result: Any) -> list[NodeResult]:
    nodes = []
    for r in getattr(run_result, "results", None) or []:
        node = r.node
        nodes.append(
            NodeResult(
                name=node.name,
                kind=str(getattr(node.resource_type, "value", node.resource_type)),
                status=str(getattr(r.status, "value", r.status)),
                message=str(r.message or ""),
                failures=r.failures,
            )
        )
    return nodes


def build_warehouse(
    cfg: Config, full_refresh: bool = False, progress: Progress | None = None
) -> BuildResult:
    """``dbt build``: the incremental model, then its tests. Raises WarehouseBuildError."""
    step = progress or (lambda _msg: None)
    target = cfg.warehouse.dbt_target
    is_duckdb = target == "duckdb"
    if is_duckdb:
        if not Path(cfg.warehouse.path).exists():
            raise WarehouseError(
                f"warehouse {cfg.warehouse.path} does not exist; run `imdbops data ingest` first"
            )
        with connect(cfg, read_only=True) as con:
            if not _table_exists(con, RAW_SCHEMA, "title_basics"):
                raise WarehouseError(
                    f"warehouse {cfg.warehouse.path} has no raw tables; run `imdbops data ingest`"
                )
    before = _model_state(cfg) if is_duckdb and not full_refresh else None
    step("importing dbt")
    from dbt.cli.main import dbtRunner

    started = time.perf_counter()
    env = {
        "DBT_DUCKDB_PATH": str(cfg.warehouse.path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    step(f"dbt build (target {target})")
    try:
        with _env(env):
            res = dbtRunner().invoke(dbt_args(cfg, "build", full_refresh))
    finally:
        _release_dbt_duckdb()
    seconds = round(time.perf_counter() - started, 3)
    nodes = _node_results(res.result)
    result = BuildResult(success=bool(res.success), target=target, seconds=seconds, nodes=nodes)
    if is_duckdb:
        after = _model_state(cfg)
        if after is not None:
            result.model_rows = after[0]
            prev_rows, prev_max = before if before else (0, None)
            with connect(cfg, read_only=True) as con:
                changed = con.execute(
                    f"select count(*) from {MODEL_TABLE} where ? is null or last_modified > ?",
                    [prev_max, prev_max],
                ).fetchone()[0]
            result.inserted = after[0] - prev_rows
            result.updated = changed - result.inserted
    log_dir = Path(cfg.paths.state_dir) / "dbt" / "logs"
    if res.exception is not None:
        raise WarehouseBuildError(f"dbt could not run: {res.exception}; see {log_dir}/dbt.log")
    if not result.success:
        bad = [n for n in nodes if n.status in ("fail", "error")]
        detail = "; ".join(f"{n.kind} {n.name}: {n.status} ({n.message})" for n in bad)
        raise WarehouseBuildError(
            f"dbt build failed: {detail or 'see log'}; fix the raw data (or the model) and "
            f"rebuild; details in {log_dir}/dbt.log"
        )
    log.info(
        "warehouse built in %.1fs: %s rows (%s new, %s updated), %d tests passed",
        seconds, result.model_rows, result.inserted, result.updated,
        sum(n.status == "pass" for n in result.tests),
    )  # fmt: skip
    return result


def warehouse_status(cfg: Config) -> dict[str, Any]:
    """Row counts and freshness of the raw tables and the model, plus the last loads."""
    status: dict[str, Any] = {"warehouse": str(cfg.warehouse.path), "exists": False}
    if not Path(cfg.warehouse.path).exists():
        return status
    status["exists"] = True
    with connect(cfg, read_only=True) as con:
        tables = {}
        for schema, name in (
            (RAW_SCHEMA, "title_basics"),
            (RAW_SCHEMA, "title_ratings"),
            (MODEL_SCHEMA, MODEL_NAME),
        ):
            if _table_exists(con, schema, name):
                rows, latest = con.execute(
                    f"select count(*), max(last_modified) from {schema}.{name}"
                ).fetchone()
                tables[f"{schema}.{name}"] = {
                    "rows": rows,
                    "last_modified": latest.isoformat() if latest else None,
                }
        status["tables"] = tables
        if _table_exists(con, RAW_SCHEMA, "ingest_log"):
            loads = con.execute(
                f"select loaded_at, source, seconds from {RAW_SCHEMA}.ingest_log "
                "order by loaded_at desc limit 5"
            ).fetchall()
            status["loads"] = [
                {"loaded_at": t.isoformat(), "source": s, "seconds": sec} for t, s, sec in loads
            ]
    return status
