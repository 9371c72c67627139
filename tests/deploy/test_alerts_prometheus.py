"""Every alert of deploy/prometheus/rules fired by its fault and resolved, in a real Prometheus.

Debian's Prometheus scrapes two real API replicas (``imdbops serve`` processes) and evaluates
a test-time copy of the project's rules (``monitoring_stack.REWRITES`` lists what the copy
changes: intervals, ``for:`` and rate windows, targets); Alertmanager delivers to a webhook
the test runs. Replica A stays healthy throughout; replica B is given each fault in turn by
pointing its champion alias at a broken or a slow model (or at nothing), so every health
alert must fire for B, name B's instance, never A's, and resolve when B's champion is good
again. Drift is driven the way production drives it: drifted traffic, then the monitor job.
The times measured here are what docs/deployment.md#alerts reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cloudpickle
import pytest
import support.monitoring_stack as ms
from support.ci_guard import skip_unless_ci
from support.ports import free_port
from support.servers import needs_stack, stop_group, wait_http
from support.serving import EXAMPLE_ITEMS, bundled_items

from imdbops.config import load_config
from imdbops.monitoring.drift_metrics import latest_summary_path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.slow, needs_stack, pytest.mark.timeout(900)]


def _sleepy(frame):
    time.sleep(0.7)  # every model call: over the rule's 500 ms p99 threshold
    return frame


def _broken(frame):
    # Passes the API's one-row warm-up (a model that fails it is never swapped in), then
    # fails every real request: the test traffic sends three movies per request.
    if len(frame) > 1:
        raise RuntimeError("injected: this model cannot predict a batch")
    return frame


# The faulty models live in this test module, which the API processes cannot import: pickle
# these functions by value.
cloudpickle.register_pickle_by_value(sys.modules[_sleepy.__module__])


def _register(cfg, model, frame, kind: str) -> str:
    from imdbops.mlops.registry import log_model_version

    info = log_model_version(
        cfg,
        model,
        metrics={"roc_auc": 0.7},
        params={"model": kind},
        tags={
            "data_md5": "0" * 32,
            "git_commit": "alerts",
            "trained_at": "2026-01-01T00:00:00Z",
            "model_kind": kind,
            "split_md5": kind,
        },
        training_frame=frame,
    )
    return info.version


def _wrapped(good, func):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    return Pipeline([("fault", FunctionTransformer(func)), ("model", good)])


@contextlib.contextmanager
def _replica(root: Path, env: dict[str, str], name: str):
    port = free_port()
    log = root / f"api-{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "imdbops"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/", proc, log, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        stop_group(proc)


class Traffic:
    """One client per replica, sending a prediction request every 50 ms until stopped."""

    def __init__(self, targets: list[str]):
        self.stop = threading.Event()
        body = json.dumps({"items": EXAMPLE_ITEMS}).encode()
        self.threads = [
            threading.Thread(target=self._run, args=(t, body), daemon=True) for t in targets
        ]

    def _run(self, target: str, body: bytes) -> None:
        while not self.stop.is_set():
            req = urllib.request.Request(
                f"http://{target}/api/v1/predict",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with contextlib.suppress(OSError):
                urllib.request.urlopen(req, timeout=10).close()
            self.stop.wait(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "imdbops"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def monitoring(tmp_path_factory):
    import shutil

    missing = [t for t in (ms.PROMETHEUS_BIN, ms.ALERTMANAGER_BIN) if shutil.which(t) is None]
    if missing:
        skip_unless_ci("prometheus / alertmanager not installed (apt-get install "
                       "prometheus prometheus-alertmanager)")  # fmt: skip
    with ms.running_monitoring(tmp_path_factory.mktemp("prometheus")) as stack:
        yield stack


def _written_at(path: Path) -> float:
    """When ``path`` was written, on the monotonic clock the webhook stamps events with.

    Timed from the verdict file, not from the job's exit: on a loaded machine Prometheus
    scrapes the new verdict and Alertmanager delivers before the job's process has exited."""
    return time.monotonic() - (time.time() - path.stat().st_mtime)


def test_every_alert_fires_for_its_fault_and_resolves(monitoring, tmp_path, record_property):
    from imdbops.mlops.models import get_spec
    from imdbops.mlops.reference_profile import build_reference_profile, save_profile
    from imdbops.mlops.registry import set_alias
    from imdbops.mlops.transform import to_model_frame

    root = tmp_path / "project"
    root.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IMDBOPS_", "MLFLOW_"))}
    env_a = {
        **base,
        "IMDBOPS_PATHS__ROOT": str(root),
        "IMDBOPS_SERVING__RELOAD_POLL_S": "1",
        "IMDBOPS_MONITORING__FLUSH_INTERVAL_S": "0.5",
    }
    env_b = {**env_a, "IMDBOPS_TRACKING__MODEL_NAME": "imdb-replica-b"}
    cfg_a = load_config(paths={"root": root})
    cfg_b = load_config(paths={"root": root}, tracking={"model_name": "imdb-replica-b"})

    items, labels = bundled_items(2000, seed=0)
    frame = to_model_frame(items)
    good = get_spec("logreg").build(None, 0).fit(frame, labels)
    set_alias(cfg_a, _register(cfg_a, good, frame, "logreg"), "champion")
    b_good = _register(cfg_b, good, frame, "logreg")
    b_broken = _register(cfg_b, _wrapped(good, _broken), frame, "broken")
    b_slow = _register(cfg_b, _wrapped(good, _sleepy), frame, "slow")
    profile = tmp_path / "reference_profile.json"
    save_profile(build_reference_profile(frame, good.predict_proba(frame)[:, 1]), profile)

    times: dict[str, tuple[float, float]] = {}
    # B starts with no champion at all: the first fault, timed from when Prometheus sees B.
    with _replica(root, env_a, "a") as a, _replica(root, env_b, "b") as b:
        monitoring.scrape([a, b])
        monitoring.targets_up(2)
        start = time.monotonic()
        fired = monitoring.webhook.wait("ImdbopsModelNotLoaded", "firing", 0, instance=b)
        fired = max(0.0, fired - start)
        set_alias(cfg_b, b_good, "champion")
        cleared = time.monotonic()
        resolved = monitoring.webhook.wait("ImdbopsModelNotLoaded", "resolved", cleared, instance=b)
        times["ImdbopsModelNotLoaded"] = (fired, resolved)

        # Drift, as production finds it: drifted traffic, then the monitor job's verdict,
        # which every replica exports.
        sim = _cli(
            ["monitor", "simulate", "--url", f"http://{a}", "--drifted", "--n", "300",
             "--rate", "1000", "--batch", "20"],
            env_a, root,
        )  # fmt: skip
        assert sim.returncode == 0, sim.stdout[-2000:] + sim.stderr[-2000:]
        time.sleep(1.5)  # two flush intervals: the answered predictions reach the log
        run = _cli(
            ["monitor", "run", "--predictions", "300", "--reference", str(profile)], env_a, root
        )
        assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-3000:]
        started = _written_at(latest_summary_path(cfg_a))
        fired = monitoring.webhook.wait("ImdbopsDriftDetected", "firing", started)
        sim = _cli(
            ["monitor", "simulate", "--url", f"http://{a}", "--n", "300", "--rate", "1000",
             "--batch", "20"],
            env_a, root,
        )  # fmt: skip
        assert sim.returncode == 0, sim.stderr[-2000:]
        time.sleep(1.5)
        run = _cli(
            ["monitor", "run", "--predictions", "300", "--reference", str(profile)], env_a, root
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
        started = _written_at(latest_summary_path(cfg_a))
        resolved = monitoring.webhook.wait("ImdbopsDriftDetected", "resolved", started)
        times["ImdbopsDriftDetected"] = (fired, resolved)

        with Traffic([a, b]):
            for alert, version in (
                ("ImdbopsServerErrors", b_broken),
                ("ImdbopsHighLatencyP99", b_slow),
            ):
                started = time.monotonic()
                set_alias(cfg_b, version, "champion")
                fired = monitoring.webhook.wait(alert, "firing", started, instance=b)
                cleared = time.monotonic()
                set_alias(cfg_b, b_good, "champion")
                resolved = monitoring.webhook.wait(alert, "resolved", cleared, instance=b)
                times[alert] = (fired, resolved)

            # Every dashboard panel's query returns series from this scrape.
            empty = [
                (title, expr)
                for title, expr in ms.dashboard_exprs()
                if not monitoring.wait_series(ms._shorten(expr), timeout=20)
            ]
            assert not empty, f"dashboard queries with no series: {empty}"

    # One bad replica alerts alone: nothing ever named the healthy one.
    for rule in ms.rules():
        assert not monitoring.webhook.received(rule["alert"], "firing", 0, instance=a), rule
    assert sorted(times) == sorted(r["alert"] for r in ms.rules()), times
    report = {k: {"fire_s": round(f, 1), "resolve_s": round(r, 1)} for k, (f, r) in times.items()}
    print("alert times:", json.dumps(report), "|", ms.REWRITES)
    record_property("alert_times", report)
