"""The usage store of a `redis://` URL (extra `redis`): records in a hash, indexed by start
time in sorted sets.

Keys under `key_prefix` (default `agenthost:`, as the session store's; ids URL-quoted):

    <p>usage:records            hash: run_id -> JSON [record row, the index keys it is in]
    <p>usage:all                zset: run_id by started_at
    <p>usage:user:<user_id>     zset: the user's runs by started_at
    <p>usage:session:<id>       zset: the session's runs by started_at
    <p>usage:app:<app>          zset: the app's runs by started_at

Recording is one Lua script (atomic): a run recorded again leaves the indexes it was in
and joins its new ones. A query reads the most selective index that applies (session, user,
app, else all) over the asked time range, fetches those records with one HMGET and filters
the rest (an app prefix, other ids) here; a budget check (one user since a window's start)
reads only that user's runs in the window.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import msgspec

from agenthost.backends.common.lifecycle import OpenClose
from agenthost.backends.usage._common import COLUMNS, record_of, row_of
from agenthost.core.errors import BackendUnavailable, InvalidArgument, StoreError, redact_url
from agenthost.core.usage import UsageRecord
from agenthost.ports.usage import UsageQuery

if TYPE_CHECKING:
    from redis.asyncio import Redis

_PREFIX: Final = re.compile(r"[A-Za-z0-9_:.\-]{1,64}")
_IGNORED: Final = ("migrate", "table_prefix")  # the session store's, when its URL is shared
_APP, _USER, _SESSION, _STARTED = (
    COLUMNS.index(c) for c in ("app", "user_id", "session_id", "started_at")
)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(tuple[list[Any], list[str]]).decode

_RECORD: Final = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  for _, key in ipairs(cjson.decode(old)[2]) do redis.call('ZREM', key, ARGV[1]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 2, #KEYS do redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1]) end
return 1
"""


def _q(value: str) -> str:
    return quote(value, safe="")


class RedisUsageStore(OpenClose):
    def __init__(self, url: str, *, key_prefix: str = "agenthost:") -> None:
        if not isinstance(key_prefix, str) or not _PREFIX.fullmatch(key_prefix):
            raise InvalidArgument(
                "key_prefix",
                f"must be 1-64 letters, digits or '_:.-' (no glob characters), got {key_prefix!r}",
            )
        self.url = url
        self.prefix = key_prefix
        self._records = f"{key_prefix}usage:records"
        self._redis: Redis | None = None
        self._script: Any = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisUsageStore:
        """`redis://[:password@]host:6379/0?key_prefix=x:` (`rediss://`: TLS)."""
        parts = urlsplit(url)
        kept: list[tuple[str, str]] = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name == "key_prefix":
                options.setdefault("key_prefix", value)
            elif name not in _IGNORED:
                kept.append((name, value))
        return cls(urlunsplit(parts._replace(query=urlencode(kept))), **options)

    def __repr__(self) -> str:
        return f"RedisUsageStore({redact_url(self.url)!r}, {self.prefix!r})"

    async def open(self) -> Self:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        if self._redis is not None:
            return self
        client: Redis = Redis.from_url(self.url, decode_responses=False)
        try:
            await client.ping()
        except (OSError, RedisError) as exc:
            await client.aclose()
            raise BackendUnavailable(
                f"The usage store cannot reach Redis at {redact_url(self.url)!r}: {exc}"
            ) from exc
        self._script = client.register_script(_RECORD)
        self._redis = client
        return self

    async def aclose(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    def _r(self) -> Redis:
        if self._redis is None:
            raise StoreError("The Redis usage store is not open.")
        return self._redis

    def _index(self, kind: str, value: str | None = None) -> str:
        return f"{self.prefix}usage:{kind}" + ("" if value is None else f":{_q(value)}")

    async def drop_keys(self) -> None:
        """Remove every usage key under the prefix (tests use it to clean up)."""
        client = self._r()
        keys = [k async for k in client.scan_iter(match=f"{self.prefix}usage:*", count=500)]
        if keys:
            await client.delete(*keys)

    async def record(self, record: UsageRecord) -> None:
        from redis.exceptions import RedisError

        self._r()
        row = row_of(record)
        indexes = [
            self._index("all"),
            self._index("user", record.user_id),
            self._index("session", record.session_id),
            self._index("app", record.app),
        ]
        try:
            await self._script(
                keys=[self._records, *indexes],
                args=[record.run_id, _encode((row, indexes[1:] + indexes[:1])), record.started_at],
            )
        except RedisError as exc:
            raise StoreError(f"Redis usage store {redact_url(self.url)!r}: {exc}") from exc

    async def _matching(self, query: UsageQuery) -> list[UsageRecord]:
        """The records `query` selects, oldest first."""
        from redis.exceptions import RedisError

        client = self._r()
        if query.session_id is not None:
            index = self._index("session", query.session_id)
        elif query.user_id is not None:
            index = self._index("user", query.user_id)
        elif query.app is not None:
            index = self._index("app", query.app)
        else:
            index = self._index("all")
        low = "-inf" if query.since is None else repr(float(query.since))
        high = "+inf" if query.until is None else f"({float(query.until)!r}"
        try:
            run_ids: list[Any] = await client.zrangebyscore(index, low, high)
            values = await client.hmget(self._records, run_ids) if run_ids else []
        except RedisError as exc:
            raise StoreError(f"Redis usage store {redact_url(self.url)!r}: {exc}") from exc
        found: list[UsageRecord] = []
        for value in values:
            if value is None:  # recorded again meanwhile under other indexes
                continue
            row = _decode(value)[0]
            if (
                (query.app is not None and row[_APP] != query.app)
                or (query.user_id is not None and row[_USER] != query.user_id)
                or (query.session_id is not None and row[_SESSION] != query.session_id)
                or (query.app_prefix is not None and not row[_APP].startswith(query.app_prefix))
            ):
                continue
            found.append(record_of(row))
        return found

    async def total_cost(self, query: UsageQuery) -> float:
        return float(sum(r.cost for r in await self._matching(query)))

    async def records(self, query: UsageQuery, *, limit: int | None = None) -> list[UsageRecord]:
        found = await self._matching(query)
        return found if limit is None else found[max(len(found) - int(limit), 0) :]
