"""Benchmark: the training DAG cold, re-run with nothing changed, and after one parameter change.

    .venv/bin/python benchmarks/pipeline.py [--root DIR] [--n-trials 4] [--max-rows N]

Builds a fresh project on the bundled data (ingest + warehouse build, not timed as part of
the pipeline), then runs ``imdbops pipeline run`` three times as a user would and reads each
run's manifest. Targets (2 cores): the no-change re-run under 3 s end to end, including the
cache-hit checks against the outside systems (model version and champion alias in MLflow,
lake snapshot, DVC remote objects; their share is printed); changing ``training.n_trials``
re-runs only tune and the tasks downstream of it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdoc import publish, rich_to_md

BIN = Path(sys.executable).parent
NO_CHANGE_TARGET_S = 3.0


def _cli(args: list[str], root: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one ``imdbops`` invocation."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "imdbops"), *args], cwd=root, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(
            f"`imdbops {' '.join(args)}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _manifest(root: Path, run_id: str) -> dict:
    return json.loads((root / "runs" / run_id / "manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="project folder (default: a temp dir)")
    parser.add_argument("--n-trials", type=int, default=2, help="tuning trials for the cold run")
    parser.add_argument("--max-rows", type=int, default=None, help="limit the extract")
    parser.add_argument("--keep", action="store_true", help="keep the temp project")
    parser.add_argument(
        "--live-code",
        action="store_true",
        help="run the working tree's code instead of a snapshot taken at the start",
    )
    args = parser.parse_args()

    root = args.root or Path(tempfile.mkdtemp(prefix="imdbops-bench-pipeline-"))
    root.mkdir(parents=True, exist_ok=True)
    config = root / "imdbops.yaml"
    lines = [
        f"paths: {{root: {root}}}",
        f"training: {{n_trials: {args.n_trials}, timeout_s: 60, bootstrap_samples: 200}}",
    ]
    if args.max_rows:
        lines.append(f"warehouse: {{max_rows: {args.max_rows}}}")
    config.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    env["IMDBOPS_CONFIG"] = str(config)
    src = Path(__file__).resolve().parents[1] / "src"
    if not args.live_code:
        # Code is part of every cache key: an edit landing mid-benchmark would (correctly)
        # re-run tasks and spoil the "no change" measurement, so run a frozen copy.
        snapshot = root / ".bench-src"
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(src, snapshot, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        src = snapshot
        env["PYTHONPATH"] = str(snapshot)

    from rich.console import Console
    from rich.table import Table

    sys.path.insert(0, str(src))
    from imdbops.config import load_config
    from imdbops.pipelines import build_dag

    console = Console(width=160)
    console.print(
        f"project {root} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    setup_wall = sum(
        _cli(cmd, root, env)[0]
        for cmd in (["data", "ingest", "--source", "bundled"], ["warehouse", "build"])
    )

    scenarios = [
        ("cold", "bench-cold", {}),
        ("no change", "bench-again", {}),
        (
            "training.n_trials +1",
            "bench-param",
            {"IMDBOPS_TRAINING__N_TRIALS": str(args.n_trials + 1)},
        ),
    ]
    rows = []
    for label, run_id, extra in scenarios:
        wall, cpu = _cli(["pipeline", "run", "--run-id", run_id], root, {**env, **extra})
        manifest = _manifest(root, run_id)
        tasks = manifest["tasks"]
        ran = [n for n in manifest["order"] if tasks[n].get("decision") == "ran"]
        runner_s = max(t["end"] for t in tasks.values()) - min(t["start"] for t in tasks.values())
        checks = {n: t["external_check_s"] for n, t in tasks.items() if "external_check_s" in t}
        rows.append((label, wall, cpu, runner_s, ran, len(tasks) - len(ran), checks))

    dag = build_dag(load_config(config))
    allowed = {"tune"} | dag.descendants("tune")
    table = Table(title="imdbops pipeline run on the bundled data")
    columns = (
        "scenario",
        "wall s",
        "CPU s",
        "in runner s",
        "external checks s",
        "ran",
        "skipped",
        "tasks that ran",
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("scenario", "tasks that ran") else "right")
    for label, wall, cpu, runner_s, ran, skipped, checks in rows:
        table.add_row(
            label,
            f"{wall:.2f}",
            f"{cpu:.2f}",
            f"{runner_s:.2f}",
            f"{sum(checks.values()):.2f}" if checks else "-",
            str(len(ran)),
            str(skipped),
            ", ".join(ran) if ran and skipped else ("all" if ran else "-"),
        )
    console.print(f"setup (ingest + warehouse build): {setup_wall:.1f} s")
    console.print(table)
    no_change, param = rows[1], rows[2]
    ok_fast = no_change[1] < NO_CHANGE_TARGET_S
    ok_param = set(param[4]) <= allowed and "tune" in param[4]
    checks = no_change[6]
    verdicts = [
        f"setup (ingest + warehouse build): {setup_wall:.1f} s",
        f"no-change re-run {no_change[1]:.2f} s wall / {no_change[2]:.2f} s CPU "
        f"(target < {NO_CHANGE_TARGET_S:.0f} s): {'PASS' if ok_fast else 'MISS'}",
        f"  of which external-output checks {sum(checks.values()):.2f} s "
        f"({', '.join(f'{n} {s:.2f}' for n, s in checks.items()) or 'none recorded'})",
        f"parameter change re-ran only tune and downstream ({', '.join(sorted(allowed))}): "
        f"{'PASS' if ok_param else 'FAIL'}",
    ]
    console.print("\n".join(verdicts[1:]))
    publish("pipeline", __doc__, [rich_to_md(table)], notes=verdicts)
    if args.root is None and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    if not ok_param:
        sys.exit(1)


if __name__ == "__main__":
    main()
