"""Leases in Redis (the lease port, ports/leases.py), on the Redis store's client.

A lease is a hash `{prefix}lease:{name}` (holder, token, interrupt) with a PEXPIRE: Redis
drops it when it runs out, on its own clock. The fencing token is `INCR {prefix}lease-token:
{name}` (kept without expiry, so tokens only grow). Each operation is one Lua script: one
round trip, atomic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Final

from agenthost.ports.leases import Lease

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS: lease, token counter. ARGV: holder, ttl ms. -> token, or false when held
ACQUIRE: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token, 'interrupt', '')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
"""

# KEYS: lease. ARGV: token, ttl ms. -> {interrupt} while ours, false once lost
RENEW: Final = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {redis.call('HGET', KEYS[1], 'interrupt')}
"""

# KEYS: lease. ARGV: token. -> 1 released, 0 not ours
RELEASE: Final = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: lease. ARGV: reason. -> 1 asked, 0 free
INTERRUPT: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'interrupt', ARGV[1])
return 1
"""


# The waiters' queue (ports/leases.py LeaseQueue): a sorted set of tickets (score = ticket)
# and a hash ticket -> expiry in ms on Redis' clock; both keys vanish when nobody waits.
_NOW_MS: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: queue, expiries, ticket counter. ARGV: ttl ms. -> ticket
ENQUEUE: Final = (
    _NOW_MS
    + """
local ticket = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], ticket, ticket)
redis.call('HSET', KEYS[2], ticket, now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[1]))
return ticket
"""
)

# KEYS: lease, token counter, queue, expiries. ARGV: holder, ttl ms, ticket or ''.
# -> token, or false (the caller's ticket is then kept alive)
ACQUIRE_QUEUED: Final = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[2])
local function wait()
  if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[4], ARGV[3]) == 1 then
    redis.call('HSET', KEYS[4], ARGV[3], now + ttl)
    redis.call('PEXPIRE', KEYS[3], 2 * ttl)
    redis.call('PEXPIRE', KEYS[4], 2 * ttl)
  end
  return false
end
if redis.call('EXISTS', KEYS[1]) == 1 then return wait() end
while true do
  local head = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  if not head then break end
  local until_ms = tonumber(redis.call('HGET', KEYS[4], head))
  if until_ms and until_ms > now then
    if head ~= ARGV[3] then return wait() end
    break
  end
  redis.call('ZREM', KEYS[3], head)
  redis.call('HDEL', KEYS[4], head)
end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token, 'interrupt', '')
redis.call('PEXPIRE', KEYS[1], ttl)
if ARGV[3] ~= '' then
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('HDEL', KEYS[4], ARGV[3])
end
return token
"""
)

# KEYS: queue, expiries. ARGV: ticket, ttl ms
TOUCH: Final = (
    _NOW_MS
    + """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[2]))
return 1
"""
)

# KEYS: queue, expiries. ARGV: ticket
DEQUEUE: Final = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""


def token_key(prefix: str, name: str) -> str:
    """The counter of a lease's fencing tokens (its last token; never expires)."""
    return f"{prefix}lease-token:{name}"


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLeases:
    """The lease port over `client()` (the store's open client, errors mapped) under `prefix`."""

    def __init__(
        self, client: Callable[[], AbstractAsyncContextManager[Redis]], prefix: str
    ) -> None:
        self._client = client
        self._prefix = prefix

    def _key(self, name: str) -> str:
        return f"{self._prefix}lease:{name}"

    async def acquire(self, name: str, holder: str, *, ttl: float) -> Lease | None:
        keys = (self._key(name), token_key(self._prefix, name))
        async with self._client() as client:
            token = await client.eval(ACQUIRE, 2, *keys, holder, _ms(ttl))
        if token is None:
            return None
        return Lease(name=name, holder=holder, token=int(token), ttl=ttl)

    async def renew(self, lease: Lease, *, ttl: float | None = None) -> Lease | None:
        seconds = lease.ttl if ttl is None else ttl
        async with self._client() as client:
            got = await client.eval(RENEW, 1, self._key(lease.name), lease.token, _ms(seconds))
        if got is None:
            return None
        reason = _text(got[0]) if got and got[0] else None
        return Lease(
            name=lease.name, holder=lease.holder, token=lease.token, ttl=seconds, interrupt=reason
        )

    async def release(self, lease: Lease) -> bool:
        async with self._client() as client:
            return bool(await client.eval(RELEASE, 1, self._key(lease.name), lease.token))

    async def current(self, name: str) -> Lease | None:
        async with self._client() as client, client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._key(name))
            pipe.pttl(self._key(name))
            row, pttl = await pipe.execute()
        if not row or pttl is None or pttl < 0:
            return None
        values = {_text(k): _text(v) for k, v in row.items()}
        return Lease(
            name=name,
            holder=values.get("holder", ""),
            token=int(values.get("token", 0)),
            ttl=pttl / 1000,
            interrupt=values.get("interrupt") or None,
        )

    async def interrupt(self, name: str, reason: str) -> bool:
        async with self._client() as client:
            return bool(await client.eval(INTERRUPT, 1, self._key(name), reason))

    # ---- the waiters' queue (LeaseQueue) ---------------------------------------------------

    def _queue_keys(self, name: str) -> tuple[str, str]:
        return f"{self._prefix}lease-queue:{name}", f"{self._prefix}lease-queue-until:{name}"

    async def enqueue(self, name: str, holder: str, *, ttl: float) -> int:
        keys = (*self._queue_keys(name), f"{self._prefix}lease-ticket:{name}")
        async with self._client() as client:
            return int(await client.eval(ENQUEUE, 3, *keys, _ms(ttl)))

    async def acquire_queued(
        self, name: str, holder: str, *, ttl: float, ticket: int | None
    ) -> Lease | None:
        keys = (self._key(name), token_key(self._prefix, name), *self._queue_keys(name))
        mine = "" if ticket is None else str(ticket)
        async with self._client() as client:
            token = await client.eval(ACQUIRE_QUEUED, 4, *keys, holder, _ms(ttl), mine)
        if token is None:
            return None
        return Lease(name=name, holder=holder, token=int(token), ttl=ttl)

    async def touch(self, name: str, ticket: int, *, ttl: float) -> None:
        async with self._client() as client:
            await client.eval(TOUCH, 2, *self._queue_keys(name), ticket, _ms(ttl))

    async def dequeue(self, name: str, ticket: int) -> None:
        async with self._client() as client:
            await client.eval(DEQUEUE, 2, *self._queue_keys(name), ticket)
