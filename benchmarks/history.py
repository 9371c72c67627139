"""History benchmark: the commands whose cost could grow with history, at 1 and at 100+.

A real tiny project (the bundled data, 400 rows, logreg, one tuning trial) runs the training
DAG once; each command is timed (a fresh process, median of ``--repeat``: the wall time a
person waits for, and the CPU seconds of the command's process); each page is timed by its
wall time and by the server's CPU per request (over ``PAGE_REQUESTS`` requests). Then ``--versions`` more registered versions (each with its own MLflow run and
test metrics), as many more run manifests and drift/performance report folders are added,
as a long-lived project has them, and the same commands are timed again. The first
measurement is the baseline, taken in the same run on the same machine:

- ``imdbops model list``: the registry's versions with their aliases, tags and test metrics;
- ``imdbops pipeline status``: the latest run among all manifests;
- ``GET /monitoring`` and ``GET /api/v1/monitoring/summary`` of a running ``imdbops serve``
  (the monitoring page and the data it loads);
- a no-change ``imdbops pipeline run`` (every task a cache hit, its external outputs checked).

Target (issue 28): flat in history; no command more than 20% slower at 100+ than at 1, judged
on CPU time: on a shared machine the wall time moves with everyone else's load (both are in
the table). ``model list``'s table shows the newest 20 versions and every aliased one
(``--limit``), so its output stays flat too.

    .venv/bin/python benchmarks/history.py [--versions 120] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from benchdoc import md_table, publish

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # ports

from support.ports import free_port  # noqa: E402

from imdbops.config import load_config  # noqa: E402
from imdbops.replay.commands import children_cpu  # noqa: E402

IMDBOPS = str(Path(sys.executable).parent / "imdbops")
COMMANDS = {
    "imdbops model list": ["model", "list"],
    "imdbops pipeline status": ["pipeline", "status"],
    "imdbops pipeline run (no change)": ["pipeline", "run"],
}
PAGE_REQUESTS = 500  # the server's CPU is read in clock ticks (10 ms): average over many
TARGET = 1.2
PAGES = {"GET /monitoring": "/monitoring", "GET /api/v1/monitoring/summary":
         "/api/v1/monitoring/summary"}  # fmt: skip


def settings() -> dict:
    from imdbops.dataops.extract import build_query

    query = build_query(load_config(warehouse={"max_rows": 400}))
    return {
        "warehouse": {"extract_query": query},
        "training": {"model": "logreg", "n_trials": 1, "timeout_s": 60,
                     "bootstrap_samples": 50, "min_margin_over_baseline": -1.0},
    }  # fmt: skip


def cli(env: dict, root: Path, *args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command's process)."""
    started, cpu = time.perf_counter(), children_cpu()
    subprocess.run([IMDBOPS, *args], env=env, cwd=root, check=True, capture_output=True)
    return time.perf_counter() - started, children_cpu() - cpu


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fetch(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        resp.read()
    return time.perf_counter() - started


def measure(env: dict, root: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """name -> (wall, CPU): medians for commands, per request for pages."""
    out = {}
    for name, args in COMMANDS.items():
        runs = [cli(env, root, *args) for _ in range(repeat)]
        out[name] = (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        print(f"  {name:<36} {out[name][0]:6.2f} s, CPU {out[name][1]:6.2f} s", flush=True)
    port = free_port()
    server = subprocess.Popen(
        [IMDBOPS, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                fetch(base + "/api/v1/ready")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("imdbops serve did not become ready") from None
                time.sleep(0.3)
        for name, path in PAGES.items():
            fetch(base + path)  # warm
            cpu = process_cpu(server.pid)
            walls = [fetch(base + path) for _ in range(PAGE_REQUESTS)]
            cpu = (process_cpu(server.pid) - cpu) / PAGE_REQUESTS
            out[name] = (statistics.median(walls), cpu)
            print(f"  {name:<36} {out[name][0] * 1000:6.1f} ms, CPU {cpu * 1000:6.1f} ms",
                  flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def grow(cfg, n: int) -> None:
    """``n`` more versions (each its own run with test metrics), manifests and reports."""
    from imdbops.mlops.tracking import get_client, mlflow_session

    client = get_client(cfg)
    name = cfg.tracking.model_name
    first = client.get_model_version(name, "1")
    experiment = client.get_run(first.run_id).info.experiment_id
    # mlflow_session: MLflow resolves a models:/ source with a client of the global URI.
    with mlflow_session(cfg):
        for i in range(n):
            run = client.create_run(experiment, run_name=f"history-{i}")
            client.log_metric(run.info.run_id, "test_roc_auc", 0.6 + i / (10 * n))
            client.set_terminated(run.info.run_id)
            client.create_model_version(name, first.source, run.info.run_id, tags=first.tags)
    runs = sorted(p for p in cfg.paths.runs_dir.iterdir() if (p / "manifest.json").exists())
    template = json.loads((runs[0] / "manifest.json").read_text())
    for i in range(n):  # older than the real runs: `pipeline status` must still find those
        run_id = f"20200101T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z-hist"
        data = {**template, "run_id": run_id, "started_at": f"2020-01-01T00:00:{i % 60:02d}Z"}
        (cfg.paths.runs_dir / run_id).mkdir()
        (cfg.paths.runs_dir / run_id / "manifest.json").write_text(json.dumps(data))
    reports = cfg.monitoring.reports_dir
    for i in range(n):
        run_id = f"20200102T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z"
        (reports / run_id).mkdir(parents=True)
        (reports / run_id / "summary.json").write_text(json.dumps({"run_id": run_id}))
        (reports / "performance").mkdir(exist_ok=True)
        (reports / "performance" / f"{run_id}.json").write_text(json.dumps({"run_id": run_id}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=120, help="versions and runs to add")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="imdbops-history-bench-"))
    (root / "imdbops.yaml").write_text(yaml.safe_dump(settings()))
    env = {**os.environ, "IMDBOPS_CONFIG": str(root / "imdbops.yaml"), "COLUMNS": "120"}
    print(f"a tiny project in {root}: ingest, warehouse, one training run ...", flush=True)
    for step in (["data", "ingest", "--source", "bundled"], ["warehouse", "build"],
                 ["pipeline", "run"]):  # fmt: skip
        cli(env, root, *step)
    cfg = load_config(root / "imdbops.yaml", paths={"root": root})

    print("1 version, 1 run:", flush=True)
    small = measure(env, root, args.repeat)
    print(f"adding {args.versions} versions, runs and reports ...", flush=True)
    grow(cfg, args.versions)
    n = args.versions + 1
    print(f"{n} versions, {n}+ runs:", flush=True)
    big = measure(env, root, args.repeat)

    def fmt(name: str, value: float) -> str:
        return f"{value * 1000:.1f} ms" if name in PAGES else f"{value:.2f} s"

    rows, over = [], []
    for name in small:
        (w1, c1), (w2, c2) = small[name], big[name]
        rows.append([name, fmt(name, w1), fmt(name, w2), f"{w2 / w1:.2f}x",
                     fmt(name, c1), fmt(name, c2), f"{c2 / c1:.2f}x"])  # fmt: skip
        if c2 / c1 > TARGET:
            over.append(f"{name} {c2 / c1:.2f}x")
    table = md_table(
        ["command", "wall, 1 version", f"wall, {n} versions", "ratio",
         "CPU, 1 version", f"CPU, {n} versions", "CPU ratio"],
        rows,
        align="lrrrrrr",
    )  # fmt: skip
    verdict = f"CPU time more than {TARGET}x at {n} versions than at 1: " + (
        ", ".join(over) or "none (target met)"
    )
    print(f"\n{table}\n\n{verdict}")
    publish("history", __doc__, [table], notes=[verdict])
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
