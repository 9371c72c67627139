"""Debian's Prometheus and Alertmanager on loopback ports, with a webhook receiver.

Prometheus runs a test-time copy of the project's own ``deploy/prometheus`` files. The copy
changes only what a test cannot wait for, and says so in ``REWRITES``: 1 s scrape and
evaluation intervals, every alert's ``for:`` down to ``FOR``, every rate window down to
``WINDOW`` (a 5-minute window would hold a fault's samples for 5 minutes after it ended), the
scrape targets (the test's API processes) and the Alertmanager to send to. The expressions,
labels and thresholds are the project's.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from support.ports import free_port
from support.servers import stop_group, wait_http

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "imdbops-monitoring.json"
FOR = "2s"
WINDOW = "15s"
REWRITES = (
    f"scrape and evaluation every 1s; `for:` -> {FOR}; `[5m]` rate windows -> [{WINDOW}]; "
    "static targets -> the test's API processes; alerting -> the test's Alertmanager"
)
PROMETHEUS_BIN = "prometheus"
ALERTMANAGER_BIN = "prometheus-alertmanager"


def rules() -> list[dict]:
    """Every alerting rule of deploy/prometheus/rules, as written."""
    found = []
    for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(r for r in group["rules"] if "alert" in r)
    return found


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expression) for every query of the Grafana dashboard."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", []) if "expr" in t]


def _shorten(expr: str) -> str:
    return re.sub(r"\[\d+[smh]\]", f"[{WINDOW}]", expr)


@dataclass
class Webhook:
    """Alertmanager's webhook receiver: every alert of every notification, timestamped."""

    events: list[tuple[float, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def serve(self) -> ThreadingHTTPServer:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.monotonic()
                with hook.lock:
                    hook.events.extend((now, a) for a in body.get("alerts", []))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def received(
        self, alertname: str, status: str, since: float, **labels: str
    ) -> list[tuple[float, dict]]:
        """(arrival, alert) for each delivered ``alertname`` in ``status`` since ``since``."""
        with self.lock:
            return [
                (t, a)
                for t, a in self.events
                if t >= since
                and a["labels"].get("alertname") == alertname
                and a["status"] == status
                and all(a["labels"].get(k) == v for k, v in labels.items())
            ]

    def wait(
        self, alertname: str, status: str, since: float, timeout: float = 120, **labels: str
    ) -> float:
        """Seconds from ``since`` until Alertmanager delivered ``alertname`` in ``status``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.received(alertname, status, since, **labels)
            if found:
                return found[0][0] - since
            time.sleep(0.2)
        with self.lock:
            seen = [(a["labels"], a["status"]) for _, a in self.events]
        raise AssertionError(f"no {status} {alertname} {labels} within {timeout}s; got {seen}")


@dataclass
class Monitoring:
    prometheus: str
    alertmanager: str
    webhook: Webhook
    root: Path
    _config: dict

    def scrape(self, targets: list[str]) -> None:
        """Point the copied scrape job at ``targets`` and reload Prometheus."""
        self._config["scrape_configs"][0]["static_configs"][0]["targets"] = targets
        _write_yaml(self.root / "prometheus.yml", self._config)
        req = urllib.request.Request(f"{self.prometheus}/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200

    def query(self, expr: str) -> list[dict]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_series(self, expr: str, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.5)

    def targets_up(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len([r for r in self.query("up == 1")]) >= n:
                return
            time.sleep(0.5)
        raise AssertionError(f"Prometheus does not see {n} targets up: {self.query('up')}")


def _write_yaml(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(path)


def _copy_config(root: Path, alertmanager_port: int) -> dict:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["alerting"] = {
        "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
    }
    (root / "rules").mkdir()
    for path in (PROMETHEUS_DIR / "rules").glob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                rule["expr"] = _shorten(rule["expr"])
                if "for" in rule:
                    rule["for"] = FOR
        _write_yaml(root / "rules" / path.name, doc)
    config["scrape_configs"] = config["scrape_configs"][:1]  # the API job
    config["scrape_configs"][0]["static_configs"][0]["targets"] = []
    _write_yaml(root / "prometheus.yml", config)
    return config


def _start(procs: list[subprocess.Popen], log: Path, ready_url: str, *command: str) -> None:
    """Start one daemon in its own session (added to ``procs`` at once, so it is stopped
    whatever happens next), its output in ``log``; return when ``ready_url`` answers."""
    with open(log, "wb") as out:
        procs.append(
            subprocess.Popen(
                list(command), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    wait_http(ready_url, procs[-1], log, timeout=60)


@contextlib.contextmanager
def running_monitoring(root: Path) -> Iterator[Monitoring]:
    """Alertmanager -> webhook, and Prometheus evaluating the project's rules."""
    for tool in (PROMETHEUS_BIN, ALERTMANAGER_BIN):
        assert shutil.which(tool), (
            f"{tool} missing: apt-get install prometheus prometheus-alertmanager"
        )
    root.mkdir(parents=True, exist_ok=True)
    webhook = Webhook()
    server = webhook.serve()
    am_port, prom_port = free_port(), free_port()
    am_config = {
        "route": {
            "receiver": "test",
            "group_by": ["alertname", "instance"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "test",
                "webhook_configs": [
                    {"url": f"http://127.0.0.1:{webhook.port}/", "send_resolved": True}
                ],
            }
        ],
    }
    _write_yaml(root / "alertmanager.yml", am_config)
    config = _copy_config(root, am_port)
    procs: list[subprocess.Popen] = []
    try:
        _start(
            procs, root / "alertmanager.log", f"http://127.0.0.1:{am_port}/-/ready",
            ALERTMANAGER_BIN,
            f"--config.file={root / 'alertmanager.yml'}",
            f"--storage.path={root / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        )  # fmt: skip
        _start(
            procs, root / "prometheus.log", f"http://127.0.0.1:{prom_port}/-/ready",
            PROMETHEUS_BIN,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--web.enable-lifecycle",
            # A resolved alert is sent at once; a firing one is re-sent this often.
            "--rules.alert.resend-delay=1s",
        )  # fmt: skip
        yield Monitoring(
            f"http://127.0.0.1:{prom_port}",
            f"http://127.0.0.1:{am_port}",
            webhook,
            root,
            config,
        )
    finally:
        for proc in reversed(procs):
            stop_group(proc)
        server.shutdown()
