"""Shadow versions on a real server: what they log, what they never touch, and the verdict.

One project (a real MLflow registry with champion v1 and challenger v2, a DuckDB warehouse
holding IMDb-format dumps) serves the same traffic twice, shadow off and shadow on; later
ratings arrive and ``monitor performance`` judges the shadow, recomputed here from the logs.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import httpx
import numpy as np
import pytest
from integration.serving.conftest import make_config
from integration.serving.shadow_support import GATED, NONE_UNTIL_GATE, open_gate
from sklearn.metrics import log_loss, roc_auc_score
from support.ci_guard import skip_unless_ci
from support.scoring_fixtures import (
    GET_RATED,
    UNRATED,
    first_dump,
    later_dump,
    later_rating,
    movie,
    tconst,
)
from support.serving import ServerThread, register_champion, train_small_model

from imdbops.config import Config
from imdbops.mlops.registry import load_version, set_alias
from imdbops.mlops.transform import to_model_frame
from imdbops.movies import label_from_rating
from imdbops.serving.app import create_app
from imdbops.serving.shadow import ShadowScorer


def _item(i: int) -> dict:
    row = movie(i)
    return {
        "title": row[2],
        "genres": [] if row[8] == r"\N" else row[8].split(","),
        "year": int(row[5]),
        "runtime_minutes": None if row[7] == r"\N" else float(row[7]),
        "tconst": tconst(i),
    }


# Every unrated title twice, in requests of 1 to 7 items, and one without an IMDb id.
_ORDER = [*UNRATED, *reversed(UNRATED)]
_SIZES = (1, 3, 7, 5, 2)


def _chunks(order: list[int]) -> list[list[dict]]:
    out, start = [], 0
    while start < len(order):
        size = _SIZES[len(out) % len(_SIZES)]
        out.append([_item(i) for i in order[start : start + size]])
        start += size
    return out


REQUESTS = _chunks(_ORDER)
REQUESTS += [[{"title": "The Matrix", "genres": ["Action", "Sci-Fi"], "year": 1999}]]


def _with(cfg: Config, **sections) -> Config:
    update = {name: getattr(cfg, name).model_copy(update=v) for name, v in sections.items()}
    return cfg.model_copy(update=update)


@dataclass
class Served:
    app: Any
    client: httpx.Client  # open until the block ends
    bodies: list[bytes]  # the answers to REQUESTS, time and port blanked


@pytest.fixture(scope="module")
def serve():
    """``with serve(cfg, **app_kwargs) as served``: the app on a real server, ``REQUESTS``
    sent once (``midway(app)``, if given, runs after the first half); the server stops
    (closing both logs: everything is in Parquet) when the block ends, after
    ``before_stop()`` if given (e.g. releasing a held shadow)."""

    @contextlib.contextmanager
    def run(cfg: Config, before_stop=None, midway=None, **app_kwargs) -> Iterator[Served]:
        app = create_app(cfg, **app_kwargs)
        server = ServerThread(app).start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                bodies = []
                for k, items in enumerate(REQUESTS):
                    if k == len(REQUESTS) // 2 and midway is not None:
                        midway(app)
                    res = client.post("/api/v1/predict", json={"items": items})
                    assert res.status_code == 200, res.text
                    # Only the time and the server's port may differ between two servers.
                    body = re.sub(rb'"timestamp":"[^"]*"', b"", res.content)
                    bodies.append(body.replace(server.url.encode(), b"URL"))
                yield Served(app, client, bodies)
        finally:
            if before_stop is not None:
                before_stop()
            server.stop()

    return run


def _log(folder) -> list[tuple]:
    return (
        duckdb.connect()
        .execute(
            "select request_id, title, tconst, probability, label, model_version "
            f"from read_parquet('{folder}/**/*.parquet') order by request_id, title"
        )
        .fetchall()
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from imdbops.dataops.warehouse import ingest_imdb

    root = tmp_path_factory.mktemp("shadow")
    cfg = make_config(root)
    register_champion(cfg)  # v1
    challenger, _ = train_small_model(n=400, seed=3)
    v2 = register_champion(cfg, challenger)
    set_alias(cfg, v2, "challenger")
    set_alias(cfg, "1", "champion")
    ingest_imdb(cfg, *first_dump(root / "dump1"))
    return cfg


def _policies(pid: int) -> set[int]:
    """The scheduling policy of every thread of ``pid``."""
    return {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


def _wait_for(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def traffic(project, serve):
    """The same requests, shadow off then on (each server with its own champion log)."""
    off_cfg = _with(project, monitoring={"prediction_log_dir": project.paths.root / "log-off"})
    # "normal": the other tests here are about what the shadow process does, not its priority
    # (the process tests below), and an idle-class process may wait long on a busy CI.
    on_cfg = _with(project, serving={"shadow": ["challenger"], "shadow_priority": "normal"})
    with serve(off_cfg) as off:
        assert off.app.state.serving.service.shadow is None
    killed = []

    def kill_the_shadow_process(app) -> None:
        shadow = app.state.serving.service.shadow
        assert shadow.drain(120)  # the child finished all it got: it holds nothing
        killed.append(shadow.pid)
        os.kill(shadow.pid, signal.SIGKILL)  # the rest is answered while it is dead or starting

    with serve(on_cfg, midway=kill_the_shadow_process) as on:
        shadow = on.app.state.serving.service.shadow
        _wait_for(lambda: shadow.stats()["restarts"] == 1, "the restart")
        assert shadow.pid not in killed
        assert shadow.drain(120)
        on_stats = shadow.stats()
        metrics = on.client.get("/metrics").text
    return {
        "off": off.bodies,
        "on": on.bodies,
        "stats": on_stats,
        "metrics": metrics,
        "off_cfg": off_cfg,
        "cfg": on_cfg,
    }


def test_champion_answers_and_log_are_byte_identical_with_shadow_on(traffic):
    assert traffic["off"] == traffic["on"]
    off_log = _log(traffic["off_cfg"].monitoring.prediction_log_dir)
    on_log = _log(traffic["cfg"].monitoring.prediction_log_dir)
    n_items = sum(len(r) for r in REQUESTS)
    assert len(off_log) == len(on_log) == n_items
    # Same titles, probabilities, labels and version (request ids are fresh per server).
    assert sorted(r[1:] for r in off_log) == sorted(r[1:] for r in on_log)
    assert {r[5] for r in on_log} == {"1"}


def test_shadow_scores_equal_the_versions_in_process_probabilities(traffic):
    cfg = traffic["cfg"]
    stats = traffic["stats"]
    n_items = sum(len(r) for r in REQUESTS)
    assert stats["versions"] == {"challenger": "2"}
    assert (stats["submitted"], stats["scored"], stats["dropped"], stats["failed"]) == (
        n_items, n_items, 0, 0
    )  # fmt: skip
    shadow = _log(cfg.monitoring.shadow_log_dir)
    champion = _log(cfg.monitoring.prediction_log_dir)
    assert len(shadow) == n_items and {r[5] for r in shadow} == {"2"}
    # Each shadow record copies its champion record's request and title.
    assert [r[:3] for r in shadow] == [r[:3] for r in champion]
    by_title = {it["title"]: it for items in REQUESTS for it in items}
    titles = [r[1] for r in shadow]
    expected = load_version(cfg, "2").model.predict_proba(
        to_model_frame([by_title[t] for t in titles])
    )[:, 1]
    np.testing.assert_allclose([r[3] for r in shadow], expected, rtol=1e-12, atol=0)
    assert [r[4] for r in shadow] == [int(p >= 0.5) for p in expected]


def test_a_slow_or_failing_shadow_never_fails_or_delays_an_answer(project, traffic, serve):
    cfg = _with(
        project,
        # One page of pipe and the slow shadow holding its first record: the pipe fills
        # (long before shadow_queue_max, 20,000 records, is reached).
        serving={
            "shadow": ["slow", "broken"],
            "shadow_pipe_bytes": 4096,
            "shadow_batch_max": 1,
            "shadow_priority": "normal",
        },
        monitoring={
            "prediction_log_dir": project.paths.root / "log-slow",
            "shadow_log_dir": project.paths.root / "shadow-slow",
        },
    )
    # The slow shadow holds its first record until the gate opens, after every answer: a
    # request that waited for it would never be answered.
    with serve(cfg, before_stop=lambda: open_gate(cfg), shadow_factory=GATED) as served:
        shadow = served.app.state.serving.service.shadow
        assert shadow.capacity == 4096 and shadow.queue_max == 20_000
        stats = shadow.stats()
        n_items = sum(len(r) for r in REQUESTS)
        assert stats["submitted"] + stats["dropped"] == n_items
        # The child read at most one pipeful before its model held it, and one more
        # pipeful waits: the ~18 kB of records did not all fit, and the rest were dropped.
        assert stats["dropped"] > 0 and stats["scored"] == 0
        metrics = served.client.get("/metrics").text
        assert f'imdbops_shadow_records_total{{outcome="dropped"}} {stats["dropped"]}.0' in metrics
        open_gate(cfg)
        assert shadow.drain(120)
        stats = shadow.stats()
    assert served.bodies == traffic["off"]
    # The champion's log holds every answer, as with shadows off; the broken shadow's
    # records are counted as failed and the slow one's are written.
    champion = _log(cfg.monitoring.prediction_log_dir)
    off_log = _log(traffic["off_cfg"].monitoring.prediction_log_dir)
    assert sorted(r[1:] for r in champion) == sorted(r[1:] for r in off_log)
    assert stats["scored"] == stats["failed"] == stats["submitted"]
    assert stats["versions"] == {"slow": "2", "broken": "3"}
    shadow_rows = _log(cfg.monitoring.shadow_log_dir)
    assert len(shadow_rows) == stats["submitted"] and {r[5] for r in shadow_rows} == {"2"}


def test_the_shadow_process_runs_at_idle_priority(project):
    if not hasattr(os, "SCHED_IDLE"):
        skip_unless_ci("SCHED_IDLE is Linux-only")
    cfg = _with(project, serving={"shadow": ["challenger"]})  # the default priority: idle
    app = create_app(cfg)
    server = ServerThread(app).start()
    try:
        shadow = app.state.serving.service.shadow
        child = shadow.proc
        assert child.pid != os.getpid() and child.poll() is None
        # Its threads inherit the class (the child also sets it first thing).
        assert _policies(child.pid) == {os.SCHED_IDLE}
        assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the server itself is untouched
    finally:
        server.stop()
    assert child.poll() is not None  # stopped with the server


def test_a_killed_shadow_process_is_restarted_and_no_request_fails(traffic):
    # The "on" server's shadow process was SIGKILLed after half the requests (``traffic``):
    # every request was answered (``serve`` asserts 200s; the answers are byte-identical to
    # shadow off above), the supervisor started another, and it scored the second half from
    # the pipe, so nothing was lost or dropped.
    n_items = sum(len(r) for r in REQUESTS)
    stats = traffic["stats"]
    assert stats["restarts"] == 1
    assert "imdbops_shadow_restarts_total 1.0" in traffic["metrics"]
    assert (stats["submitted"], stats["dropped"], stats["lost"], stats["failed"]) == (
        n_items, 0, 0, 0
    )  # fmt: skip
    # The killed child's write-ahead segment was converted by its successor: every answer in
    # the champion's log has its shadow record.
    cfg = traffic["cfg"]
    champion = _log(cfg.monitoring.prediction_log_dir)
    assert len(champion) == n_items
    assert [r[:3] for r in _log(cfg.monitoring.shadow_log_dir)] == [r[:3] for r in champion]


def test_records_in_flight_are_bounded_by_shadow_queue_max(project):
    """A shadow process that reads nothing (its models wait for the gate): the request
    path's hand-over keeps at most ``shadow_queue_max`` records in flight, drops the rest."""
    cfg = _with(
        project,
        serving={"shadow": ["challenger"], "shadow_queue_max": 3, "shadow_priority": "normal"},
        monitoring={"shadow_log_dir": project.paths.root / "shadow-bound"},
    )
    shadow = ShadowScorer(cfg, factory=NONE_UNTIL_GATE)
    shadow.start()
    try:
        record = {"ts": 1.0, "request_id": "r", "title": "T", "genres": "Drama"}
        for _ in range(5):
            shadow.submit([record])
        held = shadow.stats()
        open_gate(cfg)  # now the child reads them (with no model: nothing to score)
        assert shadow.drain(120)
    finally:
        shadow.close()
    assert (held["submitted"], held["dropped"], held["queued"]) == (3, 2, 3)
    assert shadow.stats()["queued"] == 0


def test_canary_answers_a_sticky_share_of_titles_marked_in_response_and_log(project):
    from imdbops.serving.canary import in_canary

    cfg = _with(
        project,
        serving={"canary_fraction": 0.4, "canary": "challenger"},
        monitoring={"prediction_log_dir": project.paths.root / "log-canary"},
    )
    items = [it for items in REQUESTS for it in items]
    keys = [it.get("tconst") or it["title"].casefold() for it in items]
    expected_in = {k for k in keys if in_canary(k, 0.4)}
    assert 0 < len(expected_in) < len(set(keys))
    server = ServerThread(create_app(cfg)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answers = [
                p
                for batch in REQUESTS
                for p in client.post("/api/v1/predict", json={"items": batch}).json()["data"][
                    "predictions"
                ]
            ]
    finally:
        server.stop()
    v1, v2 = (load_version(project, v).model for v in ("1", "2"))
    frame = to_model_frame(items)
    p1, p2 = v1.predict_proba(frame)[:, 1], v2.predict_proba(frame)[:, 1]
    for key, answer, a, b in zip(keys, answers, p1, p2, strict=True):
        canary = key in expected_in  # sticky: both requests of a title agree
        assert answer.get("canary", False) is canary
        assert answer["model_version"] == ("2" if canary else "1")
        assert answer["probability"] == pytest.approx(b if canary else a, rel=1e-12)
    logged = (
        duckdb.connect()
        .execute(
            "select coalesce(tconst, lower(title)), model_version, role from "
            f"read_parquet('{cfg.monitoring.prediction_log_dir}/**/*.parquet', union_by_name=true)"
        )
        .fetchall()
    )
    assert len(logged) == len(items)
    for t, version, role in logged:
        assert (version, role) == (("2", "canary") if t in expected_in else ("1", None))


def _bootstrap(y, a, b, metric, samples, alpha, seed):
    """The paired bootstrap, written again here with sklearn's metrics."""
    score = (lambda yy, p: roc_auc_score(yy, p)) if metric == "roc_auc" else (
        lambda yy, p: -log_loss(yy, p, labels=[0, 1])
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(samples):
        idx = rng.integers(0, len(y), size=len(y))
        if y[idx].min() == y[idx].max():
            continue
        diffs.append(score(y[idx], a[idx]) - score(y[idx], b[idx]))
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return score(y, a) - score(y, b), low, high


def test_the_verdict_recomputed_from_the_logs_and_the_ratings(project, traffic):
    from imdbops.dataops.warehouse import ingest_imdb
    from imdbops.mlops.promotion_policy import apply_live_policy
    from imdbops.monitoring.performance import run_performance

    cfg = _with(traffic["cfg"], training={"bootstrap_samples": 200})
    time.sleep(0.01)  # the later dump's stamp must follow the scores
    ingest_imdb(cfg, *later_dump(cfg.paths.root / "dump2"))
    report = run_performance(cfg)
    verdict = report["shadow"]
    (c,) = verdict["comparisons"]
    assert (c["shadow_version"], c["champion_version"]) == ("2", "1")

    # Independently: pair the two logs by request and tconst, average per title, keep the
    # titles rated in the later dump.
    con = duckdb.connect()
    rows = con.execute(
        f"""with s as (select request_id, tconst, avg(probability) as p
                       from read_parquet('{cfg.monitoring.shadow_log_dir}/**/*.parquet')
                       group by 1, 2),
                 c as (select request_id, tconst, avg(probability) as p
                       from read_parquet('{cfg.monitoring.prediction_log_dir}/**/*.parquet')
                       group by 1, 2)
            select s.tconst, avg(s.p), avg(c.p), count(*)
            from s join c on s.request_id = c.request_id and s.tconst = c.tconst
            group by 1 order by 1"""
    ).fetchall()
    rated = {tconst(i): label_from_rating(float(later_rating(i))) for i in GET_RATED}
    rows = [r for r in rows if r[0] in rated]
    assert c["titles"] == len(rows) == len(GET_RATED)
    # A title twice in one request is one (request, title) pair.
    pairs = {(k, it.get("tconst")) for k, items in enumerate(REQUESTS) for it in items}
    assert c["requests"] == sum(r[3] for r in rows) == sum(t in rated for _, t in pairs)
    y = np.array([rated[r[0]] for r in rows])
    p_s, p_c = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    assert c["shadow"]["roc_auc"] == pytest.approx(roc_auc_score(y, p_s), abs=1e-6)
    assert c["champion"]["roc_auc"] == pytest.approx(roc_auc_score(y, p_c), abs=1e-6)
    assert c["champion"]["loss"] == pytest.approx(log_loss(y, p_c), abs=1e-6)
    assert c["shadow"]["loss"] == pytest.approx(log_loss(y, p_s), abs=1e-6)
    t = cfg.training
    for metric in ("roc_auc", "loss"):
        diff, low, high = _bootstrap(y, p_s, p_c, metric, 200, t.bootstrap_alpha, t.seed)
        got = c["difference"][metric]
        assert got["difference"] == pytest.approx(diff, abs=1e-9)
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((low, high), abs=1e-9)
    assert sum(b["rows"] for b in c["calibration"]["shadow"]) == len(rows)

    # The gate reads the same verdict: too few titles holds, enough decides on the interval.
    def gate(min_titles: int, tolerance: float = 1.0) -> tuple[str, dict]:
        policy = _with(cfg, training={"live_min_titles": min_titles, "live_tolerance": tolerance})
        decision = {"challenger_version": "2"}
        verdict, reason = apply_live_policy(policy, decision, "PROMOTE", "offline ok", "1", False)
        return verdict, {**decision, "reason": reason}

    held, decision = gate(len(rows) + 1)
    assert (
        held == "HOLD" and f"{len(rows)} of {len(rows) + 1} labelled titles" in decision["reason"]
    )
    assert decision["live_evidence"]["run_id"] == report["run_id"]
    passed, decision = gate(len(rows))
    assert passed == "PROMOTE" and decision["live_evidence"]["labelled_titles"] == len(rows)
    strict, _ = gate(len(rows), tolerance=0.0)
    assert strict == ("PROMOTE" if c["difference"][t.primary_metric]["ci_low"] >= 0 else
                      "REJECT" if c["difference"][t.primary_metric]["ci_high"] < 0 else "HOLD")  # fmt: skip
