"""The channel inbox and outbox in the Redis session store's database, under its key prefix.

Keys (`{prefix}ch:...`): the inbox is a hash of every accepted message by its key (so a
repeated id is known forever, like the SQL tables' unique rows), a sorted set of the pending
ones by accept order (`in:pending`, scores from the counter `in:seq`) and the run records of
finished ones (`in:run`, ordered by `in:done`). The outbox keeps one hash per column, field =
delivery id (`o:item`, `o:key`, `o:output`, `o:target`, `o:status`, `o:attempts`, `o:next`,
`o:err`), the idempotency keys already queued (`o:queued`: key -> id), the pending ids in
order (`o:pend`) and counts by status (`o:counts`). Every write is one Lua script: atomic,
one round trip, so `finish` queues the replies and marks the message done together.
No migration: Redis has no tables (the store's schema version stays 1).
"""

from __future__ import annotations

import builtins
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from agenthost.ports.channels import (
    Delivery,
    DeliveryStatus,
    InboundMessage,
    InboxEntry,
    OutboxItem,
    RunRecord,
    delivery_key,
)

_IN: Final = ("in:seq", "in", "in:pending", "in:run", "in:done")
_OUT: Final = (
    "o:id",
    "o:queued",
    "o:item",
    "o:key",
    "o:output",
    "o:target",
    "o:status",
    "o:attempts",
    "o:next",
    "o:err",
    "o:pend",
    "o:counts",
)

# KEYS: in:seq, in, in:pending. ARGV: key, message. -> seq, or false when known
ACCEPT: Final = """
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return false end
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
return seq
"""

# KEYS: in, in:pending. -> {seq, message, seq, message, ...} in accept order
PENDING: Final = """
local ks = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #ks, 2 do
  out[#out + 1] = ks[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[1], ks[i])
end
return out
"""

# KEYS: in:pending, in:run, in:done, then _OUT. ARGV: key, run|'', n, n x (dkey, output,
# target, item).
FINISH: Final = """
local n = tonumber(ARGV[3])
local i = 4
for _ = 1, n do
  local dkey = ARGV[i]
  if redis.call('HEXISTS', KEYS[5], dkey) == 0 then
    local id = redis.call('INCR', KEYS[4])
    redis.call('HSET', KEYS[5], dkey, id)
    redis.call('HSET', KEYS[6], id, ARGV[i + 3])
    redis.call('HSET', KEYS[7], id, dkey)
    redis.call('HSET', KEYS[8], id, ARGV[i + 1])
    redis.call('HSET', KEYS[9], id, ARGV[i + 2])
    redis.call('HSET', KEYS[10], id, 'pending')
    redis.call('HSET', KEYS[11], id, 0)
    redis.call('HSET', KEYS[12], id, 0)
    redis.call('ZADD', KEYS[14], id, id)
    redis.call('HINCRBY', KEYS[15], 'pending', 1)
  end
  i = i + 4
end
local seq = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[3], seq or 0, ARGV[1])
end
return n
"""

# KEYS: _OUT. ARGV: output, now, limit. -> {id, key, item, attempts, next, err, ...}: for
# each target its oldest pending delivery, when due.
DUE: Final = """
local ids = redis.call('ZRANGE', KEYS[11], 0, -1)
local seen = {}
local out = {}
local found = 0
for _, id in ipairs(ids) do
  if redis.call('HGET', KEYS[5], id) == ARGV[1] then
    local target = redis.call('HGET', KEYS[6], id)
    if not seen[target] then
      seen[target] = true
      if tonumber(redis.call('HGET', KEYS[9], id)) <= tonumber(ARGV[2]) then
        local err = redis.call('HGET', KEYS[10], id) or ''
        out[#out + 1] = id
        out[#out + 1] = redis.call('HGET', KEYS[4], id)
        out[#out + 1] = redis.call('HGET', KEYS[3], id)
        out[#out + 1] = redis.call('HGET', KEYS[8], id)
        out[#out + 1] = redis.call('HGET', KEYS[9], id)
        out[#out + 1] = err
        found = found + 1
        if found >= tonumber(ARGV[3]) then break end
      end
    end
  end
end
return out
"""

# KEYS: _OUT. ARGV: id, status, attempts, next, has error (1/0), error.
UPDATE: Final = """
local old = redis.call('HGET', KEYS[7], ARGV[1])
if not old then return 0 end
redis.call('HSET', KEYS[7], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[8], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[9], ARGV[1], ARGV[4])
if ARGV[5] == '1' then redis.call('HSET', KEYS[10], ARGV[1], ARGV[6])
else redis.call('HDEL', KEYS[10], ARGV[1]) end
if old ~= ARGV[2] then
  redis.call('HINCRBY', KEYS[12], old, -1)
  redis.call('HINCRBY', KEYS[12], ARGV[2], 1)
end
if ARGV[2] == 'pending' then redis.call('ZADD', KEYS[11], ARGV[1], ARGV[1])
else redis.call('ZREM', KEYS[11], ARGV[1]) end
return 1
"""

_encode = msgspec.json.encode
_decode_message = msgspec.json.Decoder(InboundMessage).decode
_decode_item = msgspec.json.Decoder(OutboxItem).decode
_decode_run = msgspec.json.Decoder(RunRecord).decode


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _key(key: tuple[str, str, str]) -> bytes:
    return _encode(list(key))


class RedisChannelStore:
    """The ChannelStore port over an open RedisSessionStore (its client, its key prefix)."""

    def __init__(self, store: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._client = store._client_open  # the open client, errors mapped to StoreError
        p = f"{store.prefix}ch:"
        self._in = [p + k for k in _IN]
        self._out = [p + k for k in _OUT]
        self._clock = clock

    async def _eval(self, script: str, keys: Sequence[str], *args: Any) -> Any:
        async with self._client() as client:
            return await client.eval(script, len(keys), *keys, *args)

    async def accept(self, message: InboundMessage) -> bool:
        seq = await self._eval(ACCEPT, self._in[:3], _key(message.key), _encode(message))
        return seq is not None

    async def pending(self) -> builtins.list[InboxEntry]:
        flat = await self._eval(PENDING, self._in[1:3])
        return [
            InboxEntry(seq=int(float(_text(flat[i]))), message=_decode_message(flat[i + 1]))
            for i in range(0, len(flat), 2)
        ]

    async def finish(
        self, key: tuple[str, str, str], items: Sequence[OutboxItem], run: RunRecord | None
    ) -> None:
        args: list[Any] = [_key(key), b"" if run is None else _encode(run), len(items)]
        for item in items:
            args += [delivery_key(item), item.output, item.target, _encode(item)]
        await self._eval(FINISH, [*self._in[2:], *self._out], *args)

    async def due(self, output: str, *, now: float, limit: int = 500) -> builtins.list[Delivery]:
        now = min(now, sys.float_info.max)  # `due(now=inf)`: Lua's tonumber has no inf
        flat = await self._eval(DUE, self._out, output, repr(now), limit)
        return [
            Delivery(
                id=int(flat[i]),
                key=_text(flat[i + 1]),
                item=_decode_item(flat[i + 2]),
                attempts=int(flat[i + 3]),
                next_at=float(flat[i + 4]),
                last_error=_text(flat[i + 5]) or None,
            )
            for i in range(0, len(flat), 6)
        ]

    async def update(
        self,
        delivery_id: int,
        *,
        status: DeliveryStatus,
        attempts: int,
        next_at: float = 0.0,
        error: str | None = None,
    ) -> None:
        has_error = "0" if error is None else "1"
        when = repr(min(float(next_at), sys.float_info.max))
        args = (delivery_id, status, attempts, when, has_error, error or "")
        await self._eval(UPDATE, self._out, *args)

    async def counts(self) -> dict[str, int]:
        async with self._client() as client, client.pipeline(transaction=True) as pipe:
            pipe.zcard(self._in[2])
            pipe.hgetall(self._out[-1])
            inbox, counts = await pipe.execute()
        out = {_text(k): int(v) for k, v in counts.items()}
        return {
            "inbox_pending": int(inbox),
            "outbox_pending": out.get("pending", 0),
            "delivered": out.get("delivered", 0),
            "failed": out.get("failed", 0),
        }

    async def deliveries(self) -> builtins.list[Delivery]:
        """Every outbox row, oldest first (for tests and reports)."""
        names = ("o:item", "o:key", "o:status", "o:attempts", "o:next", "o:err")
        keys = [self._out[_OUT.index(n)] for n in names]
        async with self._client() as client, client.pipeline(transaction=True) as pipe:
            for k in keys:
                pipe.hgetall(k)
            columns = [{int(i): v for i, v in c.items()} for c in await pipe.execute()]
        item, key, status, attempts, next_at, err = columns
        return [
            Delivery(
                id=i,
                key=_text(key[i]),
                item=_decode_item(item[i]),
                status=_text(status[i]),  # type: ignore[arg-type]
                attempts=int(attempts[i]),
                next_at=float(next_at[i]),
                last_error=_text(err[i]) if i in err else None,
            )
            for i in sorted(item)
        ]

    async def runs(self) -> builtins.list[RunRecord]:
        """The run records of finished messages, in accept order (for pricing reports)."""
        async with self._client() as client:
            order = await client.zrange(self._in[4], 0, -1)
            blobs = await client.hmget(self._in[3], order) if order else []
        return [_decode_run(b) for b in blobs if b is not None]
