"""The replay's API: a real ``imdbops serve`` on a loopback port for the whole replay, and
the client traffic asking it about newly released titles.

The server is one process from the first period to the last: it follows the ``champion``
alias by polling (``serving.reload_poll_s``) and the replay's clock file, so it swaps
versions under traffic and stamps each prediction with the period's date, as a production
server would over a year.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from imdbops.replay.commands import Commands, ReplayStepError

API = "/api/v1"


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5.0) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


# Generous: on a busy 2-core machine a first start (MLflow creating its tables) took minutes.
SERVE_START_S = 600.0


@contextlib.contextmanager
def running_server(commands: Commands, port: int | None = None) -> Iterator[str]:
    """``imdbops serve`` on 127.0.0.1; yields its base URL once ``/healthz`` answers.

    The server stays in the replay's process group (one uvicorn worker, nothing forked), so
    Ctrl-C, or a supervisor that kills the replay's group, stops it with the replay."""
    port = port or free_loopback_port()
    log = commands.logs / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = commands.environ() | {"IMDBOPS_SERVING__RELOAD_POLL_S": "1"}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*commands.base(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=commands.root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVE_START_S
        while True:
            if proc.poll() is not None:
                raise ReplayStepError(f"imdbops serve exited {proc.returncode}; see {log}")
            with contextlib.suppress(OSError, ValueError):
                _get(f"{url}/healthz", timeout=2)
                break
            if time.monotonic() > deadline:
                raise ReplayStepError(
                    f"imdbops serve did not answer within {SERVE_START_S:g} s; see {log}"
                )
            time.sleep(0.3)
        yield url
    finally:
        # SIGTERM first: the server flushes its prediction log on the way out.
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def wait_for_version(url: str, version: str, timeout_s: float = 300.0) -> float:
    """Seconds until the server answers with model ``version`` (it polls the alias)."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if str(_get(f"{url}{API}/model")["data"]["version"]) == str(version):
                return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise ReplayStepError(f"the API did not load champion version {version} in time")
        time.sleep(0.5)


def _item(row: pd.Series) -> dict[str, Any]:
    """A title as a client would send it (the API's own bounds: no runtime rather than 0)."""
    genres = row["genres"].split(",") if isinstance(row["genres"], str) else []
    runtime = pd.to_numeric(row.get("runtimeMinutes"), errors="coerce")
    known = runtime is not None and not math.isnan(runtime) and 0 < runtime <= 10_000
    return {
        "tconst": row["tconst"],
        "title": str(row["primaryTitle"]).strip()[:200] or "untitled",
        "genres": [g for g in genres if g],
        "year": int(row["startYear"]),
        "runtime_minutes": float(runtime) if known else None,
    }


def ask_about(
    url: str, titles: pd.DataFrame, batch: int = 50, sample: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """POST the titles to ``/predict`` in batches (with their tconst, so the prediction log
    can be matched with the ratings when they arrive); returns counts per answering version."""
    if sample is not None and len(titles) > sample:
        titles = titles.sample(n=sample, random_state=seed)
    items = [_item(row) for _, row in titles.iterrows()]
    versions: dict[str, int] = {}
    refused = 0
    for start in range(0, len(items), batch):
        body = json.dumps({"items": items[start : start + batch]}).encode()
        request = urllib.request.Request(
            f"{url}{API}/predict", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # a 4xx names the bad field; count, go on
            if exc.code >= 500:
                raise ReplayStepError(f"the API answered {exc.code} to a predict request") from None
            refused += len(items[start : start + batch])
            continue
        for p in answer["data"]["predictions"]:
            versions[str(p["model_version"])] = versions.get(str(p["model_version"]), 0) + 1
    return {"asked": len(items), "refused": refused, "answered_by_version": versions}


def log_dir_rows(path: Path) -> int:
    """Parquet parts under the prediction-log folder (to wait for the server's flush)."""
    return sum(1 for _ in Path(path).rglob("*.parquet")) if Path(path).exists() else 0
