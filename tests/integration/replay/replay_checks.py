"""What a short replay must show, on any stack: each period's outputs exist and agree.

The checks recompute from the raw material (the snapshots' rating files, the prediction
log's Parquet parts, the warehouse's predictions table), not from the product's reports,
and compare with what the replay recorded from the commands.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
from sklearn.metrics import roc_auc_score
from support.warehouse_kit import rows

from imdbops.config import Config, load_config
from imdbops.dataops.warehouse_backends import get_warehouse
from imdbops.mlops.transform import label_from_rating

# Small and fast: a fixed 1,500-title subset, a one-trial logistic regression, two years
# (the second period's ratings are the first one's ground truth), and --warm: each command
# in a fresh fork of one process that imported the libraries once (replay/forked.py).
FAST_ENV = {
    "IMDBOPS_TRAINING__MODEL": "logreg",
    "IMDBOPS_TRAINING__N_TRIALS": "1",
    "IMDBOPS_TRAINING__TIMEOUT_S": "60",
    "IMDBOPS_TRAINING__BOOTSTRAP_SAMPLES": "50",
    "IMDBOPS_MONITORING__PERFORMANCE_MIN_ROWS": "10",
    # ~180 common unseen test rows in 1,500 titles: let the gate compare rather than HOLD.
    "IMDBOPS_TRAINING__MIN_COMPARE_ROWS": "50",
}
PERIODS = 2
ARGS = [
    "--first",
    "2001-12-31",
    "--periods",
    str(PERIODS),
    "--max-titles",
    "1500",
    "--requests",
    "40",
    "--warm",
]
BIN = Path(sys.executable).parent
# Minutes on a quiet 2-core machine; the tests raise pytest-timeout to 1200 s for busy ones.
REPLAY_TIMEOUT_S = 1100


def run_replay(project: Path, env: dict[str, str], *extra: str) -> dict:
    """``imdbops replay PROJECT`` as a user runs it; returns its replay.json."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    # Its own process group: on a timeout the replay and the API server it started go together.
    proc = subprocess.Popen(
        [str(BIN / "imdbops"), "replay", str(project), *ARGS, *extra],
        env=environ | FAST_ENV | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=REPLAY_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert "report: " in stdout
    folder = project / "replay"
    assert (folder / "report.html").stat().st_size > 20_000  # five embedded plots
    return json.loads((folder / "replay.json").read_text())


def project_config(project: Path, env: dict[str, str], monkeypatch) -> Config:
    """The replay project's Config in this process (the stack's settings and credentials
    stay in the environment for the warehouse reads below)."""
    for key in [k for k in os.environ if k.startswith("IMDBOPS_")]:
        monkeypatch.delenv(key)  # as run_replay's subprocesses saw it
    for key, value in (FAST_ENV | env).items():
        monkeypatch.setenv(key, value)
    return load_config(None, paths={"root": project})


def _tsv(path: Path) -> pd.DataFrame:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh, sep="\t", na_values=["\\N"], keep_default_na=False, quoting=3)


def last_change_period(snapshots: Path, dates: list[str]) -> tuple[pd.Series, pd.Series]:
    """Per rated tconst: the last period whose snapshot added or changed its rating row,
    and its final rating (what ``last_modified > scored_at`` means, from the files)."""
    previous = pd.DataFrame(columns=["tconst", "averageRating", "numVotes"]).set_index("tconst")
    changed_at: dict[str, int] = {}
    final = pd.Series(dtype=float)
    for k, day in enumerate(dates):
        current = _tsv(snapshots / day / "title.ratings.tsv.gz").set_index("tconst")
        joined = current.join(previous, rsuffix="_prev", how="left")
        moved = joined[
            (joined["averageRating"] != joined["averageRating_prev"])
            | (joined["numVotes"] != joined["numVotes_prev"])
        ]
        changed_at.update(dict.fromkeys(moved.index, k))
        previous, final = current, current["averageRating"]
    return pd.Series(changed_at), final


def log_rows(cfg: Config) -> pd.DataFrame:
    parts = sorted(Path(cfg.monitoring.prediction_log_dir).rglob("*.parquet"))
    assert parts, f"no prediction-log parts under {cfg.monitoring.prediction_log_dir}"
    files = ", ".join(f"'{p}'" for p in parts)
    with duckdb.connect() as con:
        return con.execute(
            "select cast(ts at time zone 'UTC' as timestamp) as scored_at, tconst, probability, "
            f"model_version from read_parquet([{files}], union_by_name=true)"
        ).df()


def check_replay(project: Path, data: dict, cfg: Config, n_periods: int = PERIODS) -> None:
    periods = data["periods"]
    dates = [p["date"] for p in periods]
    assert len(periods) == n_periods
    for p in periods:
        for step in (
            "ingest",
            "warehouse",
            "train",
            "registry",
            "traffic",
            "score",
            "drift",
            "performance",
        ):
            assert p["steps"][step] > 0, (p["date"], step)
        assert p["snapshot"]["unrated"] > 0  # released but not rated yet, every period
        assert p["traffic"]["asked"] > 0 and p["traffic"]["refused"] == 0
        assert p["registry"] and p["state"]
        assert p["training"]["fresh"] and p["training"]["decision"] in ("PROMOTE", "HOLD", "REJECT")
        assert p["score"]["model_version"] == p["champion"]
    assert periods[0]["training"]["decision"] == "PROMOTE"
    assert [p["snapshot"]["titles"] for p in periods] == sorted(
        p["snapshot"]["titles"] for p in periods
    )

    # Versions served vs the prediction log: every row the API logged on a period's date
    # carries that period's champion, as many as the replay saw answered.
    log = log_rows(cfg)
    log["day"] = log["scored_at"].dt.strftime("%Y-%m-%d")
    assert set(log["day"]) == set(dates)  # stamped with the replay's clock, not the wall's
    for p in periods:
        logged = log[log["day"] == p["date"]]["model_version"].astype(str).value_counts()
        assert logged.to_dict() == p["traffic"]["answered_by_version"], p["date"]
        assert set(logged.index) == {p["champion"]}

    # Realised metrics per version vs the stored predictions and the ratings that arrived.
    changed_at, final = last_change_period(project / "replay" / "snapshots", dates)
    period_of = {d: k for k, d in enumerate(dates)}
    table = f"{get_warehouse(cfg).model_schema}.predictions"
    batch = pd.DataFrame(
        rows(cfg, f"select tconst, probability, model_version, scored_at from {table}"),
        columns=["tconst", "probability", "model_version", "scored_at"],
    )
    stored = pd.concat(
        [batch.assign(source="batch"), log.drop(columns="day").assign(source="api")],
        ignore_index=True,
    )
    stored = stored[stored["tconst"].notna() & stored["tconst"].isin(final.index)]
    stored["period"] = pd.to_datetime(stored["scored_at"]).dt.strftime("%Y-%m-%d").map(period_of)
    stored = stored[stored["tconst"].map(changed_at) > stored["period"]]
    stored["y"] = [label_from_rating(final[t]) for t in stored["tconst"]]
    report = periods[-1]["performance"]
    by_version = {v["model_version"]: v for v in report["versions"]}
    assert report["rows_matched"] == len(stored) > 0
    for version, group in stored.groupby(stored["model_version"].astype(str)):
        got = by_version[version]
        assert got["rows"] == len(group)
        assert got["sources"] == group["source"].value_counts().to_dict()
        if group["y"].nunique() == 2:
            expected = roc_auc_score(group["y"], group["probability"])
            assert abs(got["metrics"]["roc_auc"] - expected) < 1e-6, version
    # The report's realised series is that same report, per scoring period.
    realised = data["summary"]["realised"]
    assert set(realised) == set(by_version)

    # Each period's drift check looked at that period's API traffic, all of it and only it.
    for p in periods:
        assert p["drift"]["n_predictions"] == p["traffic"]["asked"], p["date"]
        assert p["drift"]["model_version"] == p["champion"], p["date"]
