"""``dbt build`` over the packaged dbt project, run in-process, plus a warehouse summary.

dbt runs through ``dbtRunner`` with every path it would write (``target/``, ``logs/``)
pointed into ``paths.state_dir``, so the installed package folder stays read-only. The
warehouse reaches the bundled profile through environment variables its adapter sets
(``DBT_DUCKDB_PATH``; ``DBT_POSTGRES_*``), the same dbt project for every backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imdbops import failpoints
from imdbops.config import Config
from imdbops.dataops.warehouse_backends import (
    MODEL_NAME,
    ConnectionLostError,
    Progress,
    Warehouse,
    WarehouseError,
    get_warehouse,
    no_progress,
    sql_literal,
)
from imdbops.failpoints import failpoint
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


def _model_state(wh: Warehouse) -> tuple[int, Any] | None:
    """(rows, max last_modified) of the model, or None before its first build."""
    with wh.session(read_only=True) as s:
        if not s.table_exists(wh.model_schema, MODEL_NAME):
            return None
        return s.rows(f"select count(*), max(last_modified) from {wh.model_table}")[0]


def dbt_args(cfg: Config, command: str, full_refresh: bool = False) -> list[str]:
    state = Path(cfg.paths.state_dir) / "dbt"
    profiles = cfg.warehouse.dbt_profiles_dir or cfg.dbt_project_dir
    args = [
        command,
        "--project-dir", str(cfg.dbt_project_dir),
        "--profiles-dir", str(profiles),
        "--target", cfg.warehouse.dbt_target or cfg.warehouse.backend,
        "--vars", json.dumps({"raw_schema": cfg.warehouse.raw_schema}),
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


# How a driver says the server went away mid-build (psycopg2 through dbt-postgres).
_LOST = (
    "server closed the connection",
    "terminating connection",
    "connection already closed",
    "connection refused",
    "could not connect",
    "connection to server",
    "ssl syscall error",
)


def _on_dbt_event(event: Any) -> None:
    # After each statement of a model (its transaction is open): where the reliability
    # suite restarts the server mid-build.
    info = getattr(event, "info", None)
    if getattr(info, "name", "") == "SQLQueryStatus":
        node = getattr(getattr(event, "data", None), "node_info", None)
        if getattr(node, "resource_type", "") == "model":
            failpoint("warehouse.build.mid_model")


def _connection_lost(nodes: list[NodeResult], error: Any) -> str | None:
    """The first message saying the warehouse went away mid-build, if one does."""
    messages = [n.message for n in nodes if n.status == "error"] + [str(error or "")]
    for message in messages:
        if any(p in message.lower() for p in _LOST):
            return " | ".join(line.strip() for line in message.splitlines() if line.strip())
    return None


def build_warehouse(
    cfg: Config, full_refresh: bool = False, progress: Progress | None = None
) -> BuildResult:
    """``dbt build``: the incremental model, then its tests. Raises WarehouseBuildError."""
    step = progress or no_progress
    wh = get_warehouse(cfg)
    target = wh.dbt_target
    missing = not wh.exists()
    with contextlib.ExitStack() as stack:
        if not missing:
            s = stack.enter_context(wh.session())
            missing = not s.table_exists(wh.raw_schema, "title_basics")
            s.ensure_schema(wh.model_schema)  # refuses a schema someone else owns, before dbt
    if missing:
        raise WarehouseError(
            f"warehouse {wh.describe()} has no raw tables yet; run `imdbops data ingest` first"
        )
    before = None if full_refresh else _model_state(wh)
    step("importing dbt")
    from dbt.cli.main import dbtRunner

    started = time.perf_counter()
    env = {**wh.dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    step(f"dbt build (target {target})")
    try:
        with _env(env):
            hooks = [_on_dbt_event] if failpoints.ENV in os.environ else []
            runner = dbtRunner(callbacks=hooks)
            res = runner.invoke(dbt_args(cfg, "build", full_refresh))
    finally:
        wh.after_dbt()
    seconds = round(time.perf_counter() - started, 3)
    nodes = _node_results(res.result)
    lost = None if res.success else _connection_lost(nodes, res.exception)
    if lost:
        # dbt runs each model in one transaction: the server rolled it back, the model is
        # as the last complete build left it, and a re-run builds it whole.
        raise ConnectionLostError(
            f"lost the connection to the warehouse {wh.describe()} during dbt build ({lost[:300]}): "
            "the server restarted or stopped and rolled back the unfinished model; run "
            "`imdbops warehouse build` again once the server is up"
        )
    result = BuildResult(success=bool(res.success), target=target, seconds=seconds, nodes=nodes)
    after = _model_state(wh)
    if after is not None:
        result.model_rows = after[0]
        prev_rows, prev_max = before if before else (0, None)
        newer = "" if prev_max is None else f" where last_modified > {sql_literal(prev_max)}"
        with wh.session(read_only=True) as s:
            changed = s.scalar(f"select count(*) from {wh.model_table}{newer}")
        result.inserted = after[0] - prev_rows
        result.updated = changed - result.inserted
        wh.record_change({"model_rows": after[0], "last_modified": str(after[1])})
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
    wh = get_warehouse(cfg)
    status: dict[str, Any] = {"warehouse": wh.describe(), "backend": wh.name, "exists": False}
    if not wh.exists():
        return status
    status["exists"] = True
    raw = wh.raw_schema
    with wh.session(read_only=True) as s:
        tables = {}
        for schema, name in (
            (raw, "title_basics"),
            (raw, "title_ratings"),
            (wh.model_schema, MODEL_NAME),
        ):
            if s.table_exists(schema, name):
                rows, latest = s.rows(f"select count(*), max(last_modified) from {schema}.{name}")[
                    0
                ]
                tables[f"{schema}.{name}"] = {
                    "rows": rows,
                    "last_modified": latest.isoformat() if latest else None,
                }
        status["tables"] = tables
        if s.table_exists(raw, "ingest_log"):
            loads = s.rows(
                f"select loaded_at, source, seconds from {raw}.ingest_log "
                "order by loaded_at desc limit 5"
            )
            status["loads"] = [
                {"loaded_at": t.isoformat(), "source": src, "seconds": sec} for t, src, sec in loads
            ]
    return status
