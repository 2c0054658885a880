"""The pooled async HTTP client of the platform clients, and of the model clients when a
proxy applies: aiohttp (the model calls otherwise use the lean client of `h1_pool.py`, which
costs less than half of aiohttp's CPU a call: see `transport.py`).

Chosen by benchmark (`benchmarks/bare_loops.py`: a turn is two chat-completions calls, user ->
tool call and tool result -> text, with only the HTTP client and orjson, against the fake
server in a separate process; 2 CPUs, CPython 3.11, median of 3):

    client            (a) sequential, 0 ms latency   (b) 500 concurrent sessions, 100 ms
    aiohttp 3.14      0.42 ms per turn               0.52 s wall (ideal 0.20 s)
    httpx2 2.16       1.29 ms per turn               2.80 s wall
    httpx 0.28        2.00 ms per turn               22.0 s wall

A second run on a busier machine gave 0.46 / 1.97 / 3.10 ms and 0.51 / 3.06 / 25.7 s: the
order and the gaps hold. With a warm pool (500 sessions x 3 turns, 100 ms) aiohttp took 1.0 s
and httpx2 7.4 s. The profile shows why: httpcore2's pool (`_assign_requests_to_connections`)
scans every connection for every request, so its cost grows with the square of the
concurrency, as httpx's does; aiohttp's connector hands out a free connection in constant time
and its HTTP parser is C. aiohttp is 3x faster per turn and 5x faster at 500 concurrent
sessions, so we use it.

One `aiohttp.ClientSession` per provider (one pool): create it inside the running loop with
`make_http_client`, and close it with `await session.close()` from whoever created it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import aiohttp

from agenthost.backends.common.propagation import aiohttp_trace_configs
from agenthost.core.deadlines import Deadline, ReadDeadline

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "Deadline",
    "ReadDeadline",
    "make_http_client",
    "parse_retry_after",
]

DEFAULT_MAX_CONNECTIONS = 1000


def make_http_client(
    *,
    headers: Mapping[str, str] | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    connect_timeout: float | None = 30.0,
    keepalive_timeout: float = 30.0,
    trust_env: bool = False,
) -> aiohttp.ClientSession:
    """A pooled client allowing `max_connections` concurrent connections (to all hosts).

    Must be called inside the running event loop. Overall deadlines are the caller's business
    (`Deadline`, `ReadDeadline`: agenthost.core.deadlines, re-exported here); only connecting
    has its own limit here. `trust_env=True` reads HTTP(S)_PROXY and .netrc (a small cost per
    request).
    """
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        limit_per_host=0,
        keepalive_timeout=keepalive_timeout,
        ttl_dns_cache=300,
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers=dict(headers or {}),
        trust_env=trust_env,
        raise_for_status=False,
        trace_configs=aiohttp_trace_configs(),  # `traceparent` on every request, when tracing
    )


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
