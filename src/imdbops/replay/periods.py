"""One period of the replay: the real commands, in the order an operator's scheduler runs them.

1. ``data ingest --source imdb`` the period's snapshot, ``warehouse build``;
2. the training DAG with its gate (every period; with ``--train on-trigger`` only in the
   first, later ones when a check below triggers it), then ``model list --json``: the new
   version's ``promotion_*`` tags say what the gate decided and why, and which is champion;
3. traffic: the running API is asked about the titles released during the period (with
   their tconst, so the prediction log can be matched with ratings later);
4. ``score --warehouse``: batch scores for every unrated title;
5. ``monitor run`` (drift in the period's window) and ``monitor performance`` (the stored
   predictions against the ratings that arrived since), both with ``--retrain`` in
   on-trigger mode, so the product's own triggers start the retraining;
6. ``gc`` when asked for and when the command exists;
then the state's size. Each command's own JSON output is recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imdbops import clock
from imdbops.atomic import atomic_write_json
from imdbops.replay import api
from imdbops.replay.commands import Commands, ReplayStepError
from imdbops.replay.sizes import state_sizes
from imdbops.replay.snapshots import Snapshot

TRAIN_POLICIES = ("every", "on-trigger")


@dataclass
class ReplayRun:
    """What stays the same from period to period."""

    commands: Commands
    url: str
    cfg: Any  # the project's Config (paths of the state to measure)
    period_hours: float
    train: str = "every"
    requests: int = 200
    gc: bool = False
    gc_available: bool = False
    flush_wait_s: float = 1.5
    known_versions: set[str] = field(default_factory=set)


def set_clock(clock_file: Path, snap: Snapshot) -> None:
    atomic_write_json(clock_file, clock.clock_file_payload(snap.instant()))


def _version_key(row: dict[str, Any]) -> int:
    return int(row["version"]) if str(row["version"]).isdigit() else -1


def training_outcome(registry: list[dict[str, Any]], known: set[str]) -> dict[str, Any]:
    """The gate's word on the version the run registered (its ``promotion_*`` tags), or
    ``fresh: False`` when the run registered nothing new (every task a cache hit)."""
    new = sorted((r for r in registry if str(r["version"]) not in known), key=_version_key)
    if not new:
        return {"fresh": False, "version": None, "decision": None, "reason": None}
    tags = new[-1].get("tags") or {}
    return {
        "fresh": True,
        "version": str(new[-1]["version"]),
        "decision": tags.get("promotion_decision"),
        "reason": tags.get("promotion_reason"),
    }


def champion_of(registry: list[dict[str, Any]]) -> str | None:
    return next(
        (str(r["version"]) for r in registry if "champion" in (r.get("aliases") or [])), None
    )


def run_period(run: ReplayRun, snap: Snapshot) -> dict[str, Any]:
    label = f"{snap.index:02d}-{snap.date.isoformat()}"
    cmd = run.commands
    set_clock(cmd.clock_file, snap)
    steps: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds of the commands (not with --warm)
    record: dict[str, Any] = {
        "period": snap.index,
        "date": snap.date.isoformat(),
        "snapshot": {
            "titles": snap.titles,
            "rated": snap.rated,
            "unrated": snap.unrated,
            "new_releases": len(snap.new_releases),
            "ratings_arrived": snap.ratings_arrived,
        },
        "steps": steps,
        "cpu": cpu,
    }

    def step(name: str, *args: str, ok: tuple[int, ...] = (0,)):
        result = cmd.run(label, name, *args, ok=ok)
        steps[name] = round(steps.get(name, 0.0) + result.seconds, 3)
        if result.cpu_seconds is not None:
            cpu[name] = round(cpu.get(name, 0.0) + result.cpu_seconds, 3)
        return result

    step("ingest", "data", "ingest", "--source", "imdb", "--basics", str(snap.basics),
         "--ratings", str(snap.ratings))  # fmt: skip
    step("warehouse", "warehouse", "build")

    training = None
    if snap.index == 0 or run.train == "every":
        run_id = clock.now().strftime("%Y%m%dT%H%M%SZ") + f"-replay{snap.index:02d}"
        step("train", "pipeline", "run", "--run-id", run_id)
        training = {"run_id": run_id, "why": "first period" if snap.index == 0 else "every period"}
    registry = step("registry", "model", "list", "--json").json() or []
    if training is not None:
        training.update(training_outcome(registry, run.known_versions))
    run.known_versions = {str(r["version"]) for r in registry}
    record["training"] = training
    record["registry"] = registry
    champion = champion_of(registry)
    if champion is None:
        raise ReplayStepError(
            f"{label}: the registry has no champion after training; see {cmd.logs}"
        )
    record["champion"] = champion
    started = time.perf_counter()
    reload_s = api.wait_for_version(run.url, champion)
    traffic = api.ask_about(run.url, snap.new_releases, sample=run.requests, seed=snap.index)
    time.sleep(run.flush_wait_s)  # the server's prediction-log flush interval
    steps["traffic"] = round(time.perf_counter() - started, 3)
    record["traffic"] = {**traffic, "reload_wait_s": round(reload_s, 3)}

    record["score"] = step("score", "score", "--warehouse", "--json").json()

    retrain = ["--retrain"] if run.train == "on-trigger" else []
    hours = f"{run.period_hours:g}"
    drift = step("drift", "monitor", "run", "--json", "--hours", hours, *retrain, ok=(0, 2, 3))
    summary = drift.json() if drift.exit_code != 2 else None
    record["drift"] = {
        "exit_code": drift.exit_code,
        "drift_share": (summary or {}).get("drift_share"),
        "drift_detected": (summary or {}).get("drift_detected"),
        "reasons": (summary or {}).get("reasons"),
        "model_version": (summary or {}).get("model_version"),
        "n_predictions": ((summary or {}).get("window") or {}).get("n_predictions"),
        "retrain": (summary or {}).get("retrain"),
    }
    perf = step("performance", "monitor", "performance", "--json", *retrain, ok=(0, 3))
    record["performance"] = perf.json()

    if run.gc and run.gc_available:
        # --wait: the API server's reload or a monitor may hold a lock for a moment.
        plan = step("gc", "gc", "--json", "--wait", "120").json() or {}
        record["gc"] = {
            "removed": len(plan.get("remove") or []),
            "resumed": len(plan.get("resumed") or []),
            "kept": plan.get("kept"),
        }
    started = time.perf_counter()
    record["state"] = state_sizes(run.cfg)
    steps["measure"] = round(time.perf_counter() - started, 3)
    return record


def check_gc(commands: Commands) -> bool:
    """Whether this imdbops has a ``gc`` command (retention arrives with it)."""
    try:
        return commands.run("setup", "gc-help", "gc", "--help", ok=(0, 1, 2)).exit_code == 0
    except ReplayStepError:
        return False
