"""Benchmark: a replay of the bundled data period by period, with and without retention.

    .venv/bin/python benchmarks/replay.py [--periods 24] [--first 1982-12-31]
        [--period-months 12] [--page replay]
        [--max-titles N] [--requests 200] [--retention {both,on,off}] [--root DIR]
        [--parallel] [--budget-minutes M] [--report-only]

Runs ``imdbops replay`` (docs/operating.md) as a user would: one dated IMDb-format snapshot
per period (a year; ``--period-months 3`` for quarters), each through ingest, warehouse
build, the training DAG and its gate, API traffic about the period's new titles, batch
scoring, the drift check and ``monitor performance``. The bundled snapshots double in titles
from 1983 to 2005, so the yearly replay's state grows with its data as well as its history;
24 quarters from 2000 (``--first 2000-03-31 --period-months 3 --page replay-quarterly``)
hold the data nearly still (1.2x) and show what history alone adds.
``--retention on`` adds ``imdbops replay --gc`` (``imdbops gc`` after each period; skipped,
and said so, while this imdbops has no ``gc`` command), with retention sized for one
period a year (``RETENTION`` below: the newest 2 versions, drift reports and runs, and
prediction-log days and ``monitor performance`` judging the last 800 days, two periods and a
margin for ratings that arrive up to 1.5 periods late; the defaults are sized for hourly
monitor jobs and would keep every yearly report). Training uses a one-trial logistic
regression (``training.model=logreg``): the benchmark measures how the loop's cost and
state grow with history, not model quality. Per period: each step's wall time, its CPU
seconds (the command's process, user + system) and the state kept (local folders plus
object-store prefixes), from the replay's own ``replay.json``.

Targets (2 cores): with retention, the state after the last period within 1.5x of its size
after period 2; no step's time grows more than 20% from period 2 to the last (the training
step is compared per training row, since the data itself grows every year; each end is the
median of three periods, 2-4 and the last 3, since one period's few CPU seconds of a step
move 15% from period to period). Step growth is judged on CPU seconds, which a busy or
shared machine hardly changes (wall seconds are in the tables too); the traffic step, whose
work is in the API server, on wall seconds.

``--parallel`` plays both modes at the same time (each then has about half the machine);
``--budget-minutes`` stops a replay that is still running when the budget runs out (SIGTERM:
the replay stops its API and keeps the periods it finished in ``replay.json``) and the
page then says how many of the planned periods each mode played (with fewer than 3, no
target is assessed). ``--report-only --root DIR`` writes the page from the ``replay.json``
files a run left in DIR (e.g. when the script itself was stopped).
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
import threading
import time
from pathlib import Path

from benchdoc import DOCS_DIR, md_table, publish

BIN = Path(sys.executable).parent
STATE_TARGET = 1.5
STEP_GROWTH_TARGET = 1.2
WINDOW = 3  # periods at each end whose median step time is compared (see growth)
FAST = {
    "IMDBOPS_TRAINING__MODEL": "logreg",
    "IMDBOPS_TRAINING__N_TRIALS": "1",
    "IMDBOPS_TRAINING__TIMEOUT_S": "120",
    "IMDBOPS_TRAINING__BOOTSTRAP_SAMPLES": "200",
}
# Retention for one period a year (see the module docstring); only with --retention on.
RETENTION = {
    "IMDBOPS_RETENTION__KEEP_VERSIONS": "2",
    "IMDBOPS_RETENTION__KEEP_REPORTS": "2",
    "IMDBOPS_RETENTION__KEEP_RUNS": "2",
    "IMDBOPS_MONITORING__LOG_RETENTION_DAYS": "800",
    "IMDBOPS_MONITORING__PERFORMANCE_WINDOW_DAYS": "800",
}
STEPS = ("ingest", "warehouse", "train", "traffic", "score", "drift", "performance", "gc")


def has_gc() -> bool:
    proc = subprocess.run(
        [str(BIN / "imdbops"), "gc", "--help"], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0


def replay(project: Path, args: argparse.Namespace, gc: bool, deadline: float | None) -> dict:
    """``imdbops replay`` into ``project``; stopped at ``deadline`` (monotonic) if still
    running. Returns its replay.json (the periods it finished)."""
    command = [
        str(BIN / "imdbops"), "replay", str(project), "--first", args.first,
        "--periods", str(args.periods), "--requests", str(args.requests),
        "--period-months", str(args.period_months),
    ]  # fmt: skip
    if args.max_titles:
        command += ["--max-titles", str(args.max_titles)]
    if gc:
        command.append("--gc")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")} | FAST
    if gc:
        env |= RETENTION
    print("$", " ".join(command), flush=True)
    log = (project.parent / f"{project.name}.log").open("w")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    timeout = None if deadline is None else max(deadline - time.monotonic(), 1)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{project.name}: budget spent, stopping the replay", flush=True)
        proc.terminate()  # the replay unwinds: stops its API, keeps replay.json
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    finally:
        log.close()
    path = project / "replay" / "replay.json"
    if not path.exists():
        raise SystemExit(f"{project.name}: no period finished (log: {log.name})")
    data = json.loads(path.read_text())
    if proc.returncode != 0 and len(data["periods"]) == args.periods:
        raise SystemExit(f"{project.name}: imdbops replay failed (log: {log.name})")
    return data


def per_period_rows(data: dict) -> list[list[str]]:
    rows = []
    for p in data["periods"]:
        steps = p["steps"]
        rows.append(
            [p["date"], f"{p['snapshot']['titles']:,}", f"{p['snapshot']['unrated']:,}",
             f"v{p['champion']}", str((p.get("training") or {}).get("decision") or "-")]
            + [f"{steps[s]:.1f}" if s in steps else "-" for s in STEPS]
            + [f"{sum(steps.values()):.0f}", _cpu_total(p),
               f"{sum(p['state'].values()) / 1e6:.1f}"]
        )  # fmt: skip
    return rows


def _cpu_total(period: dict) -> str:
    cpu = period.get("cpu")
    return f"{sum(cpu.values()):.0f}" if cpu else "-"


def window(periods: list) -> int:
    """Periods at each end that growth() compares: ``WINDOW``, or 1 when the replay is too
    short for two windows after period 1."""
    return WINDOW if len(periods) >= 2 * WINDOW + 1 else 1


def growth(data: dict, basis: str = "cpu") -> dict[str, float]:
    """Each step's time at the end over its time at period 2 (train per rated title): the
    median of the last ``WINDOW`` periods over the median of periods 2 to ``WINDOW + 1``, so
    that one noisy period (a step of a few CPU seconds moves 15% from period to period)
    decides nothing; single periods when the replay is too short for two windows. CPU
    seconds where the replay recorded them (``basis="cpu"``), else wall seconds."""
    periods = data["periods"]
    n = window(periods)
    first, last = periods[1 : 1 + n], periods[-n:]

    def per_period(p: dict, step: str, times: str) -> float | None:
        value = (p.get(times) or {}).get(step)
        if value and step == "train":
            return value / p["snapshot"]["rated"]
        return value

    out = {}
    for step in STEPS:
        both = first + last
        times = (
            "cpu" if basis == "cpu" and all(step in (p.get("cpu") or {}) for p in both) else "steps"
        )
        a = [v for p in first if (v := per_period(p, step, times))]
        b = [v for p in last if (v := per_period(p, step, times))]
        if len(a) == n and len(b) == n:
            out[step] = statistics.median(b) / statistics.median(a)
    return out


def state_ratio(data: dict) -> float:
    sizes = [sum(p["state"].values()) for p in data["periods"]]
    return sizes[-1] / sizes[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, default=24)
    parser.add_argument("--first", default="1982-12-31")
    parser.add_argument(
        "--period-months", type=int, default=12, help="Months between snapshots (12: yearly)."
    )
    parser.add_argument(
        "--page", default="replay", help="docs/benchmarks/<PAGE>.md and its plots' folder."
    )
    parser.add_argument("--max-titles", type=int, default=None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--retention", choices=("both", "on", "off"), default="both")
    parser.add_argument("--root", type=Path, default=None, help="Keep the projects here.")
    parser.add_argument("--parallel", action="store_true", help="Play both modes at once.")
    parser.add_argument(
        "--budget-minutes", type=float, default=None, help="Stop the replays after this long."
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="Play nothing: write the page from the replay.json files a run left in --root.",
    )
    args = parser.parse_args()
    if args.report_only and args.root is None:
        parser.error("--report-only needs the --root of the run to report")
    if args.periods < 3:
        parser.error("--periods must be at least 3 (period 2 is the baseline)")
    root = args.root or Path(tempfile.mkdtemp(prefix="imdbops-replay-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    gc_present = has_gc()
    modes = {"both": [False, True], "on": [True], "off": [False]}[args.retention]
    deadline = None if args.budget_minutes is None else time.monotonic() + 60 * args.budget_minutes
    results: dict[str, dict] = {}
    notes = []
    jobs = []
    failed: dict[str, str] = {}
    for gc in modes:
        name = "with retention" if gc else "without retention"
        if gc and not gc_present:
            notes.append(f"{name}: not run, this imdbops has no `gc` command yet")
            continue
        project = root / name.replace(" ", "-")
        if args.report_only:
            saved = project / "replay" / "replay.json"
            if saved.exists():
                results[name] = json.loads(saved.read_text())
            continue

        def play(name=name, project=project, gc=gc) -> None:
            try:
                results[name] = replay(project, args, gc, deadline)
            except BaseException as exc:  # noqa: BLE001 - a thread's SystemExit stops nothing
                failed[name] = str(exc)

        if args.parallel:
            jobs.append(threading.Thread(target=play))
            jobs[-1].start()
        else:
            play()
    for job in jobs:
        job.join()
    if failed:
        raise SystemExit("; ".join(f"{k}: {v}" for k, v in failed.items()))
    results = {k: results[k] for k in ("without retention", "with retention") if k in results}
    for name, data in results.items():
        played = len(data["periods"])
        if played < args.periods:
            budget = f"{args.budget_minutes:g}-minute " if args.budget_minutes else ""
            notes.append(
                f"{name}: {played} of the {args.periods} planned periods played: the replay "
                f"was stopped when the {budget}budget ran out"
            )
        if played == 0:
            raise SystemExit(f"{name}: no period finished")
    if args.report_only:
        notes.append(
            "written by --report-only from the replay.json files of replays that ran to their "
            "end in --root (this page's duration is the report's, not the replays')"
        )
    if args.parallel and len(results) == 2:
        notes.append("both modes played at the same time (--parallel), each on about half the CPU")

    tables, verdicts = [], []
    headers = ["date", "titles", "unrated", "champion", "gate", *STEPS, "total s", "CPU s",
               "state MB"]  # fmt: skip
    for name, data in results.items():
        table = md_table(headers, per_period_rows(data), "lrrll" + "r" * (len(STEPS) + 3))
        tables.append(f"**{name}**\n\n{table}")
        if len(data["periods"]) < 3:
            verdicts.append(
                f"{name}: no state ratio or step growth: fewer than 3 periods played (period 2 "
                "is the baseline), so the targets are not assessed"
            )
            continue
        if len(data["periods"]) < args.periods:
            verdicts.append(
                f"{name}: only {len(data['periods'])} of {args.periods} periods: the targets "
                "are for the whole replay and are not assessed; the ratios below are period "
                f"{len(data['periods'])} over period 2"
            )
        ratio = state_ratio(data)
        grown = {k: v for k, v in growth(data).items() if v > STEP_GROWTH_TARGET}
        partial_run = len(data["periods"]) < args.periods
        judged = name == "with retention" and not partial_run

        def target(value: float, what: str, judged: bool = judged) -> str:
            met = "met" if value <= STATE_TARGET else "NOT met"
            return f" ({what} <= {STATE_TARGET}x: {met})" if judged else ""

        verdicts.append(
            f"{name}: state after period {len(data['periods'])} is {ratio:.2f}x its size after "
            f"period 2" + target(ratio, "target")
        )
        titles = (
            data["periods"][-1]["snapshot"]["titles"] / data["periods"][1]["snapshot"]["titles"]
        )
        # What history adds, apart from the data growing: the bundled set's yearly
        # snapshots double in titles between 1983 and 2005.
        verdicts.append(
            f"{name}: the snapshot itself grew {titles:.2f}x in titles, so the state per title "
            f"is {ratio / titles:.2f}x its period-2 value" + target(ratio / titles, "per title")
        )
        n = window(data["periods"])
        ends = f"periods 2-{n + 1} to the last {n}" if n > 1 else "period 2 to the last"
        verdicts.append(
            f"{name}: each step's CPU time ({ends}, medians; train per rated title, the others "
            f"also per title, the snapshot having grown {titles:.2f}x): "
            + ", ".join(
                f"{k} {v:.2f}x" + ("" if k == "train" else f" ({v / titles:.2f}x)")
                for k, v in growth(data).items()
            )
        )
        verdicts.append(
            f"{name}: steps over {STEP_GROWTH_TARGET}x their period-2 CPU time: "
            + (
                ", ".join(f"{k} {v:.2f}x" for k, v in grown.items())
                or ("none" if partial_run else "none (target met)")
            )
        )
        wall = {k: v for k, v in growth(data, basis="wall").items() if v > STEP_GROWTH_TARGET}
        verdicts.append(
            f"{name}: steps over {STEP_GROWTH_TARGET}x their period-2 wall time (for "
            "reference; the machine's load moves it): "
            + (", ".join(f"{k} {v:.2f}x" for k, v in wall.items()) or "none")
        )
    # The plots of the last replay (with retention when it ran) go on the page.
    last = list(results)[-1] if results else None
    if last:
        plots = root / last.replace(" ", "-") / "replay" / "plots"
        target = DOCS_DIR / args.page
        if os.environ.get("IMDBOPS_BENCH_DOCS", "") != "off":
            target.mkdir(parents=True, exist_ok=True)
            for png in sorted(plots.glob("*.png")):
                shutil.copyfile(png, target / png.name)
            tables.append(
                f"**The report's plots ({last})**\n\n"
                + "\n\n".join(
                    f"![{p.stem}]({args.page}/{p.name})" for p in sorted(plots.glob("*.png"))
                )
            )
    for line in verdicts + notes:
        print(line)
    publish(args.page, __doc__, tables, notes=verdicts + notes)


if __name__ == "__main__":
    main()
