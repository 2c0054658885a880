"""The pooled async HTTP client of every model and platform client: aiohttp.

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

import asyncio
import email.utils
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from agenthost.backends.common.propagation import aiohttp_trace_configs

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
    (`Deadline`, below); only connecting has its own limit here. `trust_env=True` reads
    HTTP(S)_PROXY and .netrc (a small cost per request).
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


class Deadline:
    """`with Deadline(when):` is `async with asyncio.timeout_at(when):` as a plain `with`.

    At `when` (event-loop time) the task is cancelled, and that cancellation leaves the block as
    `TimeoutError`; a cancellation from elsewhere (or one that arrived as well) stays a
    `CancelledError`: the rules of `asyncio.Timeout`, which it mirrors. It is cheaper: no
    coroutine frames for entering and leaving, no state machine (measured here, one block
    around an `await`: 2.4-2.8 µs against 3.7-4.3 µs, asyncio's loop and uvloop alike).
    """

    __slots__ = ("_cancelling", "_handle", "_task", "expired", "when")

    def __init__(self, when: float) -> None:
        self.when = when
        self.expired = False

    def __enter__(self) -> Deadline:
        task = self._task = _entering("Deadline")
        self._cancelling = task.cancelling()
        self._handle = task.get_loop().call_at(self.when, self._expire)
        return self

    def _expire(self) -> None:
        self.expired = True
        self._task.cancel()

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        self._handle.cancel()
        _timed_out(self.expired, self._task, self._cancelling, exc_type, exc)


class ReadDeadline:
    """The deadlines of the reads of one streamed response, with one timer for all of them.

    Each `with deadline:` block (sending the request, then every read that has to wait) must
    end within `idle` seconds (None: no such limit) and before `deadline` (event-loop time),
    else it leaves as `TimeoutError` (the rules of `Deadline`); `waited` is then the setting
    that ran out (`idle`, or `seconds`: the call's whole timeout). Time between blocks (the
    caller handling what was read) counts towards `deadline` only.

    A block costs a clock read and a comparison: the timer, set for the first block's limit,
    is moved only when a block needs an earlier one (a block's limit only grows, until the
    call's deadline caps it). When it fires during a block that may run on, it is set again
    for that block's limit; outside a block it does nothing and the next block sets it. A
    stream of 1,000 reads thus makes one or a few timers instead of 1,000. `close()` when the
    response is done.
    """

    __slots__ = (
        "_cancelling",
        "_handle",
        "_limit",
        "_loop",
        "_reading",
        "_set_for",
        "_task",
        "deadline",
        "expired",
        "idle",
        "seconds",
        "waited",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, deadline: float, seconds: float, idle: float | None
    ) -> None:
        self._loop = loop
        self.deadline = deadline
        self.seconds = seconds
        self.idle = idle
        self.waited = seconds
        self.expired = False
        self._reading = False
        self._handle: asyncio.TimerHandle | None = None
        self._set_for = 0.0
        self._limit = deadline

    def __enter__(self) -> ReadDeadline:
        self._cancelling = (task := _entering("ReadDeadline")).cancelling()
        self._task = task
        idle = self.idle
        if idle is not None and (limit := self._loop.time() + idle) < self.deadline:
            self._limit, self.waited = limit, idle
        else:
            limit = self._limit = self.deadline
            self.waited = self.seconds
        handle = self._handle
        if handle is None or self._set_for > limit:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(limit, self._fire)
            self._set_for = limit
        self._reading = True
        return self

    def _fire(self) -> None:
        self._handle = None
        if not self._reading:
            return  # between blocks: the next block sets the timer again
        if self._limit <= self._set_for:  # this block has waited until its limit
            self.expired = True
            self._task.cancel()
        else:
            self._handle = self._loop.call_at(self._limit, self._fire)
            self._set_for = self._limit

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        self._reading = False
        expired, self.expired = self.expired, False
        _timed_out(expired, self._task, self._cancelling, exc_type, exc)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _entering(what: str) -> asyncio.Task[Any]:
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError(f"{what} must be used inside a task")
    return task


def _timed_out(
    expired: bool,
    task: asyncio.Task[Any],
    cancelling: int,
    exc_type: type[BaseException] | None,
    exc: object,
) -> None:
    """Leaving a deadline's block: our cancellation, and no other one pending, is a timeout
    (the rule of `asyncio.Timeout.__aexit__`)."""
    if expired and task.uncancel() <= cancelling and exc_type is asyncio.CancelledError:
        raise TimeoutError from exc  # type: ignore[misc]
