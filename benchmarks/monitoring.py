"""Monitoring benchmark: what the prediction log costs the server, and the drift job at scale.

1. Serving throughput with the prediction log on vs off: two ``imdbops serve`` processes
   (one worker each) serve the same champion; ``wrk`` (a separate process) loads them in
   turn, alternating for several rounds so machine noise hits both alike. Target: the log
   costs under 10% of throughput.
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


def bench_logging(root: Path, duration: float, rounds: int) -> list[tuple]:
    from support.serving import (
        bundled_items,
        free_port,
        register_champion,
        train_small_model,
    )

    sb = _serving_bench()
    cfg = load_config(paths={"root": root})
    cfg.ensure_dirs()
    print("training and registering a small logreg champion ...", flush=True)
    model, _ = train_small_model(n=3000)
    register_champion(cfg, model)
    items, _ = bundled_items(n=400, seed=1)
    base_env = {**os.environ, "IMDBOPS_PATHS__ROOT": str(root)}
    base_env.pop("IMDBOPS_CONFIG", None)
    ports = {"log on": free_port(), "log off": free_port()}
    procs = {}
    for name, port in ports.items():
        env = {**base_env, "IMDBOPS_MONITORING__ENABLED": "true" if name == "log on" else "false"}
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
                order = list(ports) if r % 2 == 0 else list(reversed(ports))
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
                        f"  {label:<22} {name:<8} {out['rps']:9.1f} req/s "
                        f"{cpu_ms[name][-1]:6.2f} CPU ms/req",
                        flush=True,
                    )
            on, off = statistics.median(results["log on"]), statistics.median(results["log off"])
            cpu_on, cpu_off = (
                statistics.median(cpu_ms["log on"]),
                statistics.median(cpu_ms["log off"]),
            )
            rows.append(
                (label, size, off, on, (off - on) / off * 100, cpu_off, cpu_on,
                 (cpu_on - cpu_off) / cpu_off * 100)
            )  # fmt: skip
    finally:
        sb.stop_servers(procs.values())
    written = sum(1 for _ in (root / "data" / "predictions").rglob("*.parquet"))
    print(f"  (the 'log on' server wrote {written} part files)")
    return rows


def bench_log_path(rows_per_file: int = 1000, files: int = 20) -> float:
    """CPU microseconds per row of the prediction log's write path, in isolation.

    ``record()`` (what the request path pays) plus the background flush to Parquet, with the
    default 1,000-row files. Independent of neighbours' load, unlike req/s.
    """
    import uuid

    from imdbops.monitoring.prediction_log import PredictionLog

    cfg = load_config(
        paths={"root": Path(tempfile.mkdtemp(prefix="imdbops-plog-"))},
        monitoring={"flush_interval_s": 3600, "flush_max_records": 10**9},
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
    started = time.process_time()
    for _ in range(files):
        plog.record({**row, "ts": time.time()} for _ in range(rows_per_file))
        plog.flush()
    per_row = (time.process_time() - started) / (files * rows_per_file) * 1e6
    plog.close()
    shutil.rmtree(cfg.paths.root, ignore_errors=True)
    return per_row


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
    log_us = bench_log_path()

    print()
    print(f"data kept in {root} (pass --root to reuse the 1M-row log; delete when done)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print()
    if serving_rows:
        print(
            f"Prediction log cost (median of {args.rounds} alternating wrk runs of {args.duration:g}s)"
        )
        print()
        print(
            "| load | log off req/s | log on req/s | throughput cost | "
            "log off CPU ms/req | log on CPU ms/req | CPU cost |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, _size, off, on, cost, c_off, c_on, c_cost in serving_rows:
            print(
                f"| {label} | {off:,.0f} | {on:,.0f} | {cost:+.1f}% | {c_off:.2f} | "
                f"{c_on:.2f} | {c_cost:+.1f}% |"
            )
        print()
    print(
        f"Prediction log write path in isolation (record + flush, 1,000-row files): {log_us:.1f} CPU us/row"
    )
    for label, size, _off, _on, _cost, c_off, _c_on, _c_cost in serving_rows:
        share = log_us / (c_off * 1000 / size) * 100
        print(f"  -> {share:.1f}% of the server's CPU per prediction at '{label}'")
    print()
    if drift is None:
        return
    print(
        "| drift job | predictions | part files | job wall s | evidently import s | "
        "process CPU s | process wall s | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| monitor run | {drift['n']:,} | {drift['files']:,} | {drift['seconds']:.1f} | "
        f"{drift['import_s']:.1f} | {drift['cpu_s']:.1f} | {drift['process_s']:.1f} | "
        f"{drift['rss_mb']:,.0f} |"
    )


if __name__ == "__main__":
    main()
