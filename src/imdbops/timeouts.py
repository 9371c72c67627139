"""How long any call to a shared service may wait, in one place.

Every wait on PostgreSQL, the object store and the MLflow server is bounded, so a service
that is down or hangs turns into a one-line error naming it, never a process stuck for ever.
docs/configuration.md ("Timeouts and retries") lists each setting with its default and how
to change it; the values here are the defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# Object stores (S3 and S3-compatible, through s3fs/botocore), unless
# ``<...>storage_options.config_kwargs`` says otherwise. botocore's own defaults are 60 s and
# 60 s with 5 attempts (up to ~6 minutes on a hung store); these fail a dead store in about
# a minute, and a hung one (accepts, never answers) after 3 x 30 s.
S3_CONNECT_TIMEOUT_S = 5
S3_READ_TIMEOUT_S = 30
S3_MAX_ATTEMPTS = 3  # botocore "standard" retry mode: the first try + 2 retries, backoff

# PostgreSQL: libpq's connect timeout is ``warehouse.connect_timeout`` (10 s); TCP keepalives
# notice a server that vanished mid-query (host down, cable cut) after idle + interval x count.
PG_KEEPALIVES_IDLE_S = 30
PG_KEEPALIVES_INTERVAL_S = 10
PG_KEEPALIVES_COUNT = 3

# The API (uvicorn) keeps an idle client connection open this long: more than any client's
# or proxy's idle timeout (httpx 5 s, cloud load balancers 60 s, nginx 75 s), so the client
# closes first. With uvicorn's own 5 s, a request sent on a connection the server is closing
# at that moment fails without an answer.
SERVING_KEEP_ALIVE_S = 90


def pg_keepalives() -> dict[str, int]:
    """libpq connection keywords that bound a wait on a silent PostgreSQL server."""
    return {
        "keepalives": 1,
        "keepalives_idle": PG_KEEPALIVES_IDLE_S,
        "keepalives_interval": PG_KEEPALIVES_INTERVAL_S,
        "keepalives_count": PG_KEEPALIVES_COUNT,
    }


def with_s3_timeouts(protocols: tuple[str, ...], options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` for fsspec, with bounded connect/read timeouts and retries added for S3
    (any key the user set is kept as set)."""
    merged = copy.deepcopy(dict(options))
    if not set(protocols) & {"s3", "s3a"}:
        return merged
    config = merged.setdefault("config_kwargs", {})
    config.setdefault("connect_timeout", S3_CONNECT_TIMEOUT_S)
    config.setdefault("read_timeout", S3_READ_TIMEOUT_S)
    config.setdefault("retries", {"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"})
    return merged


def drop_expect_continue(fs: Any) -> None:
    """Send S3 uploads without ``Expect: 100-continue``.

    botocore asks for it on every upload; aiohttp then waits for the server's "100
    Continue" before the body with no timeout at all (the read timeout starts after the
    body), so a store that accepts the connection and never answers hangs an upload for
    ever. Without it the body goes at once and the read timeout bounds the wait.
    """
    import botocore.handlers

    fs.connect()  # creates the client (no request is sent)
    fs.s3.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
