"""Monitoring benchmark: what the prediction log costs the server, and the drift job at scale.

1. Serving cost of the prediction log: three ``imdbops serve`` processes (one worker each)
   serve the same champion with the log off, in memory only (``monitoring.write_ahead:
   false``, the log before issue 21) and with the write-ahead log (the default); ``wrk`` (a
   separate process) loads them in turn, rotating the order each round so machine noise hits
   all alike. Then the log's own CPU per request in isolation. Target: the write-ahead log
   costs under 10% of a single-item request's server CPU.
2. ``imdbops monitor`` drift job over 1M logged predictions (1,000 Parquet part files), run
   in a fresh process so its peak RSS is its own. Targets: under 30 s, under 2 GB.

    .venv/bin/python benchmarks/monitoring.py [--duration 10] [--rounds 3] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchdoc import md_table, publish

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))  # support.*: the tests' model and log helpers

from imdbops.config import load_config  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def _serving_bench():
    # Reuse the serving benchmark's request bodies and readiness check.
    spec = importlib.util.spec_from_file_location("serving_bench", HERE / "serving.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_wrk(script: Path, url: str, connections: int, duration: float) -> dict:
    """Requests/s and request count of one wrk run (latency is not needed here)."""
    out = subprocess.run(
        ["/usr/bin/wrk", "-t2", f"-c{connections}", f"-d{int(duration)}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": requests,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc), children excluded."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The prediction log as each server runs it: off, today's memory buffer, and the write-ahead
# log (records in a segment file before the response, issue 21).
VARIANTS = {
    "log off": {"IMDBOPS_MONITORING__ENABLED": "false"},
    "memory only": {"IMDBOPS_MONITORING__WRITE_AHEAD": "false"},
    "write-ahead": {"IMDBOPS_MONITORING__WRITE_AHEAD": "true"},
}


def bench_logging(root: Path, duration: float, rounds: int) -> list[tuple]:
    from support.ports import free_port
    from support.serving import bundled_items, register_champion, train_small_model

    sb = _serving_bench()
    cfg = load_config(paths={"root": root})
    cfg.ensure_dirs()
    print("training and registering a small logreg champion ...", flush=True)
    model, _ = train_small_model(n=3000)
    register_champion(cfg, model)
    items, _ = bundled_items(n=400, seed=1)
    base_env = {**os.environ, "IMDBOPS_PATHS__ROOT": str(root)}
    base_env.pop("IMDBOPS_CONFIG", None)
    ports = {name: free_port() for name in VARIANTS}
    procs = {}
    for name, port in ports.items():
        log_dir = root / "data" / f"predictions-{name.replace(' ', '-')}"
        env = {**base_env, **VARIANTS[name], "IMDBOPS_MONITORING__PREDICTION_LOG_DIR": str(log_dir)}
        procs[name] = subprocess.Popen(
            [str(VENV_BIN / "imdbops"), "serve", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    rows = []
    try:
        for port in ports.values():
            sb.wait_ready(f"http://127.0.0.1:{port}/api/v1/ready")
        for label, size, conns in [("single item, c=8", 1, 8), ("100-item batch, c=4", 100, 4)]:
            batches = [items[i : i + size] for i in range(0, max(size * 20, 50), size)]
            bodies = [sb.ours_body(b) for b in batches if len(b) == size][:20]
            script = sb.lua_script(bodies, root / f"bench-{size}.lua")
            results: dict[str, list[float]] = {n: [] for n in ports}
            cpu_ms: dict[str, list[float]] = {n: [] for n in ports}
            for port in ports.values():  # warm-up
                run_wrk(script, f"http://127.0.0.1:{port}/api/v1/predict", conns, 3)
            for r in range(rounds):
                # Rotate the order each round so machine noise hits every variant alike.
                names = list(ports)
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    url = f"http://127.0.0.1:{ports[name]}/api/v1/predict"
                    cpu_before = cpu_seconds(procs[name].pid)
                    out = run_wrk(script, url, conns, duration)
                    # CPU per request is what the log adds; req/s on a shared, loaded machine
                    # mostly measures the neighbours.
                    spent = cpu_seconds(procs[name].pid) - cpu_before
                    cpu_ms[name].append(spent / max(1, out["requests"]) * 1000)
                    results[name].append(out["rps"])
                    print(
                        f"  {label:<22} {name:<12} {out['rps']:9.1f} req/s "
                        f"{cpu_ms[name][-1]:6.2f} CPU ms/req",
                        flush=True,
                    )
            off_rps = statistics.median(results["log off"])
            off_cpu = statistics.median(cpu_ms["log off"])
            for name in ports:
                rps, cpu = statistics.median(results[name]), statistics.median(cpu_ms[name])
                rows.append(
                    (label, name, rps, (off_rps - rps) / off_rps * 100, cpu,
                     (cpu - off_cpu) / off_cpu * 100)
                )  # fmt: skip
    finally:
        sb.stop_servers(procs.values())
    for name in ports:
        log_dir = root / "data" / f"predictions-{name.replace(' ', '-')}"
        written = sum(1 for _ in log_dir.rglob("*.parquet"))
        print(f"  (the '{name}' server wrote {written} part files)")
    return rows


def bench_log_path(write_ahead: bool, requests: int = 1000, files: int = 20) -> tuple[float, float]:
    """CPU microseconds of the prediction log's own work, in isolation, per one-row request.

    ``record()`` once per request (what the request path pays: with the write-ahead log, the
    JSON line and its ``write``), then the background flush to Parquet of the default
    1,000-row files. Independent of neighbours' load, unlike req/s. Returns (record, total).
    """
    import uuid

    from imdbops.monitoring.prediction_log import PredictionLog

    cfg = load_config(
        paths={"root": Path(tempfile.mkdtemp(prefix="imdbops-plog-"))},
        monitoring={
            "flush_interval_s": 3600,
            "flush_max_records": 10**9,
            "write_ahead": write_ahead,
        },
    )
    plog = PredictionLog(cfg)
    row = {
        "request_id": uuid.uuid4().hex,
        "title": "Some Movie Title",
        "genres": "Comedy,Drama",
        "year": 1999.0,
        "runtime_minutes": 101.0,
        "probability": 0.61,
        "label": 1,
        "model_version": "1",
        "latency_ms": 3.2,
    }
    plog.record([{**row, "ts": time.time()}])
    plog.flush()  # warm-up: pyarrow import, first file
    in_record = in_flush = 0.0
    for _ in range(files):
        started = time.process_time()
        for _ in range(requests):
            plog.record([{**row, "ts": time.time()}])
        flushed = time.process_time()
        plog.flush()
        in_record += flushed - started
        in_flush += time.process_time() - flushed
    n = files * requests
    plog.close()
    shutil.rmtree(cfg.paths.root, ignore_errors=True)
    return in_record / n * 1e6, (in_record + in_flush) / n * 1e6


def make_log(root: Path, n_rows: int) -> tuple[Path, Path]:
    """1M-row log from the bundled movies (tiled) and a reference profile from the same data."""
    from support.prediction_log import write_prediction_log

    from imdbops.mlops.reference_profile import build_reference_profile, save_profile
    from imdbops.monitoring.simulate import bundled_model_frame

    frame = bundled_model_frame()
    rng = np.random.default_rng(0)
    proba = rng.beta(4, 2, len(frame))
    profile = root / "reference_profile.json"
    save_profile(build_reference_profile(frame, proba), profile)
    log_dir = root / "data" / "predictions"
    reps = int(np.ceil(n_rows / len(frame)))
    tiled = frame.iloc[np.tile(np.arange(len(frame)), reps)[:n_rows]].reset_index(drop=True)
    write_prediction_log(
        log_dir, tiled, np.tile(proba, reps)[:n_rows], spacing_s=0.01, rows_per_file=1000
    )
    return log_dir, profile


DRIFT_CHILD = """
import json, resource, sys, time
from pathlib import Path
from imdbops.config import load_config
from imdbops.monitoring.drift import run_drift_job
root, profile, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
cfg = load_config(paths={"root": root})
t = time.perf_counter()
import evidently  # noqa: F401  (import cost reported separately)
imported = time.perf_counter() - t
t = time.perf_counter()
run = run_drift_job(cfg, reference_path=profile, predictions=n)
ru = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT " + json.dumps({"seconds": time.perf_counter() - t, "import_s": imported,
                  "cpu_s": ru.ru_utime + ru.ru_stime,
                  "rss_mb": ru.ru_maxrss / 1024,
                  "n": run.summary["window"]["n_predictions"],
                  "files": run.summary["window"]["n_files"],
                  "share": run.summary["drift_share"]}))
"""


def bench_drift(root: Path, n_rows: int) -> dict:
    profile = root / "reference_profile.json"
    if not profile.exists():  # --root of an earlier run reuses its log
        print(f"writing {n_rows:,} logged predictions ...", flush=True)
        started = time.perf_counter()
        _, profile = make_log(root, n_rows)
        print(f"  written in {time.perf_counter() - started:.1f}s", flush=True)
    env = {**os.environ}
    env.pop("IMDBOPS_CONFIG", None)
    wall = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", DRIFT_CHILD, str(root), str(profile), str(n_rows)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=root,
    )
    result = json.loads(re.search(r"RESULT (\{.*\})", out.stdout).group(1))
    result["process_s"] = time.perf_counter() - wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--skip-drift", action="store_true")
    parser.add_argument("--root", type=Path, help="reuse the folder of an earlier run")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="imdbops-monbench-"))
    serving_rows = (
        [] if args.skip_serving else bench_logging(root / "serve", args.duration, args.rounds)
    )
    drift = None if args.skip_drift else bench_drift(root / "drift", args.rows)
    log_path = {"memory only": bench_log_path(False), "write-ahead": bench_log_path(True)}

    print()
    print(f"data kept in {root} (pass --root to reuse the 1M-row log; delete when done)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print()
    tables = []
    if serving_rows:
        cells = []
        for label, name, rps, cost, cpu, c_cost in serving_rows:
            costs = ("", "") if name == "log off" else (f"{cost:+.1f}%", f"{c_cost:+.1f}%")
            cells.append([label, name, f"{rps:,.0f}", costs[0], f"{cpu:.2f}", costs[1]])
        tables.append(
            f"**Prediction log cost** (median of {args.rounds} rotating wrk runs of "
            f"{args.duration:g}s)\n\n"
            + md_table(
                ["load", "prediction log", "req/s", "throughput cost", "CPU ms/req", "CPU cost"],
                cells,
                align="llrrrr",
            )
        )
    off_cpu = {label: cpu for label, name, _r, _c, cpu, _cc in serving_rows if name == "log off"}
    single = off_cpu.get("single item, c=8")
    headers = ["prediction log", "record() us/request", "record + flush us/request"]
    if single:
        headers.append("share of a single-item request's server CPU")
    cells = []
    for name, (rec_us, total_us) in log_path.items():
        row = [name, f"{rec_us:.1f}", f"{total_us:.1f}"]
        if single:
            row.append(f"{total_us / (single * 1000) * 100:.1f}%")
        cells.append(row)
    tables.append(
        "**Prediction log's own CPU in isolation** (one-row requests, 1,000-row Parquet files)"
        "\n\n" + md_table(headers, cells, align="lrrr")
    )
    if drift is not None:
        tables.append(
            md_table(
                ["drift job", "predictions", "part files", "job wall s", "evidently import s",
                 "process CPU s", "process wall s", "peak RSS MB"],
                [["monitor run", f"{drift['n']:,}", f"{drift['files']:,}",
                  f"{drift['seconds']:.1f}", f"{drift['import_s']:.1f}", f"{drift['cpu_s']:.1f}",
                  f"{drift['process_s']:.1f}", f"{drift['rss_mb']:,.0f}"]],
                align="lrrrrrrr",
            )
        )  # fmt: skip
    print("\n\n".join(tables))
    publish("monitoring", __doc__, tables)


if __name__ == "__main__":
    main()
