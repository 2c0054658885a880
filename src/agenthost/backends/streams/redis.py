"""Run streams on Redis (ports/streams.py): Redis Streams for events, pub/sub for cancels.

Keys under `key_prefix` (default `agenthost:`):

- `run:{run_id}`: a hash, the run's meta (agent, user_id, session_id, status, ...).
- `events:{run_id}`: a stream; an entry's id is the frame position `seq-k` (the SSE id
  `"seq"` or `"seq.k"`), its field `e` the event as JSON. Published by one script per batch
  that skips an entry whose id is not past the newest (`XADD` refuses it: the script catches
  that), so publishing twice, or from two processes, never duplicates an event. Trimmed to
  about `maxlen` entries (`MAXLEN ~`); readers get the older stored events from the session.
- `cancel:{run_id}`: the cancel reason, kept `cancel_ttl` seconds (a run queued but not
  started sees it when it starts); every cancel is also published on channel `cancel`.

Every key of a run expires `ttl` seconds (default a day) after its last write.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from agenthost.backends.common.lifecycle import OpenClose
from agenthost.core import serde
from agenthost.core.errors import BackendUnavailable, InvalidArgument, StoreError, redact_url
from agenthost.core.events import Event

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("agenthost.streams")

Position = tuple[int, int]
_PREFIX: Final = re.compile(r"[A-Za-z0-9_:.\-]{1,64}")
OPTIONS: Final = ("key_prefix", "maxlen", "ttl")

# KEYS: stream, meta. ARGV: maxlen, ttl seconds, then id, blob pairs. -> entries added
PUBLISH: Final = """
local added = 0
for i = 3, #ARGV, 2 do
  local ok = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i], 'e', ARGV[i + 1])
  if type(ok) ~= 'table' or not ok.err then added = added + 1 end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return added
"""


def _entry_id(pos: Position) -> str:
    return f"{pos[0]}-{pos[1]}"


def _position(entry_id: bytes | str) -> Position:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    seq, _, k = text.partition("-")
    return int(seq), int(k or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRunStreams(OpenClose):
    """See the module doc."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "agenthost:",
        maxlen: int | str = 10_000,
        ttl: float | str = 86_400,
        cancel_ttl: float = 3_600,
    ) -> None:
        if not isinstance(key_prefix, str) or not _PREFIX.fullmatch(key_prefix):
            raise InvalidArgument(
                "key_prefix", f"must be 1-64 letters, digits or '_:.-', got {key_prefix!r}"
            )
        self.url = url
        self.prefix = key_prefix
        self.maxlen = int(maxlen)
        self.ttl = int(float(ttl))
        self.cancel_ttl = int(cancel_ttl)
        self._redis: Redis | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisRunStreams:
        """`redis://host:6379/0?key_prefix=x:&maxlen=10000&ttl=86400`."""
        parts = urlsplit(url)
        rest = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in OPTIONS:
                options.setdefault(key, value)
            else:
                rest.append((key, value))
        return cls(urlunsplit(parts._replace(query=urlencode(rest))), **options)

    def __repr__(self) -> str:
        return f"RedisRunStreams({redact_url(self.url)!r}, {self.prefix!r})"

    # ---- lifecycle ------------------------------------------------------------------------

    async def open(self) -> Self:
        if self._redis is None:
            from redis.asyncio import Redis

            client: Redis = Redis.from_url(self.url, decode_responses=False)
            try:
                async with self._errors():
                    await client.ping()
            except BaseException:
                await client.aclose()
                raise
            self._redis = client
        return self

    async def aclose(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    async def drop(self) -> None:
        """Delete every key under this prefix (tests)."""
        async with self._client() as client:
            keys = [k async for k in client.scan_iter(match=self.prefix + "*", count=500)]
            if keys:
                await client.delete(*keys)

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Redis]:
        client = self._redis
        if client is None:
            raise StoreError(f"The run streams at {redact_url(self.url)!r} are not open.")
        async with self._errors():
            yield client

    def _errors(self) -> contextlib.AbstractAsyncContextManager[None]:
        return _map_errors(self.url)

    # ---- the port -------------------------------------------------------------------------

    async def describe(self, run_id: str, meta: dict[str, Any]) -> None:
        key = f"{self.prefix}run:{run_id}"
        async with self._client() as client, client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={k: orjson.dumps(v) for k, v in meta.items()})
            pipe.expire(key, self.ttl)
            await pipe.execute()

    async def meta(self, run_id: str) -> dict[str, Any] | None:
        async with self._client() as client:
            raw = await client.hgetall(f"{self.prefix}run:{run_id}")
        if not raw:
            return None
        return {_text(k): orjson.loads(v) for k, v in raw.items()}

    async def publish(self, run_id: str, frames: Sequence[tuple[Position, Event]]) -> None:
        if not frames:
            return
        args: list[Any] = [self.maxlen, self.ttl]
        for pos, event in frames:
            args += [_entry_id(pos), serde.encode(event)]
        keys = (f"{self.prefix}events:{run_id}", f"{self.prefix}run:{run_id}")
        async with self._client() as client:
            await client.eval(PUBLISH, 2, *keys, *args)

    async def read(
        self, run_id: str, *, after: Position, block: float | None
    ) -> list[tuple[Position, Event]]:
        start = "0-0" if after < (0, 1) else _entry_id(after)
        ms = None if block is None else max(1, int(block * 1000))
        async with self._client() as client:
            got: Any = await client.xread({f"{self.prefix}events:{run_id}": start}, block=ms)
        frames: list[tuple[Position, Event]] = []
        for _, entries in got or []:
            for entry_id, fields in entries:
                frames.append((_position(entry_id), serde.decode_event(fields[b"e"])))
        return frames

    async def first(self, run_id: str) -> Position | None:
        async with self._client() as client:
            got: Any = await client.xrange(f"{self.prefix}events:{run_id}", count=1)
        return _position(got[0][0]) if got else None

    async def cancel(self, run_id: str, reason: str) -> None:
        async with self._client() as client, client.pipeline(transaction=True) as pipe:
            pipe.set(f"{self.prefix}cancel:{run_id}", reason, ex=self.cancel_ttl)
            pipe.publish(f"{self.prefix}cancel", orjson.dumps([run_id, reason]))
            await pipe.execute()

    async def cancel_requested(self, run_id: str) -> str | None:
        async with self._client() as client:
            reason = await client.get(f"{self.prefix}cancel:{run_id}")
        return None if reason is None else _text(reason)

    async def cancels(self) -> AsyncIterator[tuple[str, str]]:
        """Every cancel request from now on, as (run_id, reason), until cancelled."""
        async with self._client() as client:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            async with self._errors():
                await pubsub.subscribe(f"{self.prefix}cancel")
            while True:
                async with self._errors():
                    message = await pubsub.get_message(timeout=None)
                if message is None or message.get("type") != "message":
                    continue
                try:
                    run_id, reason = orjson.loads(message["data"])
                except (orjson.JSONDecodeError, ValueError, TypeError):
                    log.warning("ignoring a malformed cancel message %r", message["data"])
                    continue
                yield str(run_id), str(reason)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]


@contextlib.asynccontextmanager
async def _map_errors(url: str) -> AsyncIterator[None]:
    from redis import exceptions

    try:
        yield
    except (OSError, exceptions.ConnectionError, exceptions.TimeoutError) as exc:
        raise BackendUnavailable(
            f"Redis at {redact_url(url)!r} (run streams) is unreachable: {exc}"
        ) from exc
    except exceptions.RedisError as exc:
        raise StoreError(f"Redis at {redact_url(url)!r} refused: {exc}") from exc
