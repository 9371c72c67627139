"""A bounded, open-loop HTTP load generator for the serving app (loopback only).

Used by ``benchmarks/load.py`` and the reliability suite (test support, not product code). Requests are *scheduled* at a
steady rate rather than sent back-to-back, so a slow server shows up as latency (and as
requests in flight) instead of silently lowering the offered load.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

LOOPBACK = ("127.", "localhost", "::1", "[::1]")


def _check_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise ValueError(
            f"load tests only target this machine (127.0.0.0/8, localhost); got {host!r}"
        )


def request_mix(items: list[dict[str, Any]], seed: int = 0):
    """Yield (kind, body bytes, expected predictions) forever: mostly valid, some hostile."""
    rng = random.Random(seed)
    invalid = [
        ("empty_title", {"items": [{"title": "", "genres": ["Drama"]}]}),
        ("unknown_genre", {"items": [{"title": "Heat", "genres": ["Space Opera"]}]}),
        ("title_too_long", {"items": [{"title": "x" * 301, "genres": []}]}),
        ("wrong_type", {"items": [{"title": 42, "genres": "Drama"}]}),
        ("missing_items", {"title": "Heat"}),
        ("too_many_items", {"items": [{"title": "a", "genres": []}] * 1001}),
    ]
    while True:
        roll = rng.random()
        if roll < 0.6:
            yield "single", json.dumps({"items": [rng.choice(items)]}).encode(), 1
        elif roll < 0.8:
            batch = rng.sample(items, 10)
            yield "batch10", json.dumps({"items": batch}).encode(), 10
        elif roll < 0.97:
            kind, body = rng.choice(invalid)
            yield kind, json.dumps(body).encode(), 0
        elif roll < 0.985:
            yield "bad_json", b'{"items": [', 0
        else:
            yield "oversize", b'{"items": [' + b" " * 1_100_000 + b"]}", 0


@dataclass
class LoadResult:
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # transport errors (no HTTP answer)
    errors_by_kind: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    predictions_answered: int = 0
    versions: Counter = field(default_factory=Counter)
    duration_s: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q / 100 * len(data)))]

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "duration_s": round(self.duration_s, 1),
            "rate_rps": round(self.sent / self.duration_s, 1) if self.duration_s else 0.0,
            "status_counts": dict(sorted(self.statuses.items())),
            "server_errors": self.server_errors,
            "transport_errors": sum(self.errors.values()),
            "predictions_answered": self.predictions_answered,
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "versions": dict(self.versions),
        }


async def _one(client, url: str, kind: str, body: bytes, expected: int, result: LoadResult):
    start = time.perf_counter()
    try:
        resp = await client.post(url, content=body, headers={"content-type": "application/json"})
    except Exception as exc:  # noqa: BLE001 - every transport failure is counted, not raised
        result.errors[type(exc).__name__] += 1
        result.errors_by_kind[kind] += 1
        return
    result.latencies_ms.append((time.perf_counter() - start) * 1000)
    result.statuses[resp.status_code] += 1
    if resp.status_code == 200 and expected:
        data = resp.json()["data"]
        result.predictions_answered += len(data["predictions"])
        for p in data["predictions"]:
            result.versions[str(p.get("model_version"))] += 1


async def run_load(
    base_url: str,
    items: list[dict[str, Any]],
    *,
    rate: float = 100.0,
    duration_s: float = 60.0,
    max_requests: int = 100_000,
    seed: int = 0,
    midway: Any = None,
) -> LoadResult:
    """Offer ``rate`` requests/s for ``duration_s`` (bounded by ``max_requests``).

    ``midway`` is an optional coroutine function awaited once, half-way through (e.g. a
    model reload), while the load keeps running.
    """
    import httpx

    _check_loopback(base_url)
    url = base_url.rstrip("/") + "/api/v1/predict"
    result = LoadResult()
    mix = request_mix(items, seed)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        tasks: list[asyncio.Task] = []
        start = time.perf_counter()
        midway_task = None
        interval = 1.0 / rate
        while result.sent < max_requests:
            elapsed = time.perf_counter() - start
            if elapsed >= duration_s:
                break
            if midway is not None and midway_task is None and elapsed >= duration_s / 2:
                midway_task = asyncio.create_task(midway())
            kind, body, expected = next(mix)
            result.by_kind[kind] += 1
            tasks.append(asyncio.create_task(_one(client, url, kind, body, expected, result)))
            result.sent += 1
            next_at = start + result.sent * interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)
        if midway_task is not None:
            await midway_task
        result.duration_s = time.perf_counter() - start
    return result
