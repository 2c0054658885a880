"""Redis session store (`redis://host:6379/0`, `rediss://` for TLS; extra `redis`): redis.asyncio.

- `append` and `create` are Lua scripts (`_redis_lua.py`): atomic on the server and ONE round
  trip each; the script reads `last_seq` and pushes the events, so concurrent writers from
  any number of processes get unique, contiguous seq numbers.
- `get` is one MULTI/EXEC pipeline (the session hash, its event list, the three state hashes):
  one round trip, one consistent snapshot. Nothing is cached.
- `ttl_seconds` is a real Redis TTL on the session's keys (PEXPIRE, refreshed by every append),
  so an abandoned session frees its memory without `purge_expired`; the store also applies the
  TTL by its clock, like the other stores. App and user state and KV values never expire.

Key layout under `key_prefix` (default `agenthost:`), with each app/user/session id
percent-quoted so ':' in an id cannot collide: see `_redis_lua.py`. KV values are one hash per
namespace (`kv:<namespace>`). The schema version is the key `schema_version`.

Redis persists what its own configuration says (RDB snapshots, AOF with `appendfsync`): with
the defaults, a Redis crash can lose the last seconds of writes. Use Postgres when events
must survive that.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Self, cast
from urllib.parse import quote, unquote

from agenthost.backends.common.lifecycle import OpenClose
from agenthost.backends.sessions import _redis_lua as lua
from agenthost.backends.sessions._common import (
    Clock,
    StoreOptions,
    apply_batch,
    check_events,
    check_key,
    check_kv,
    decode_json,
    encode_events,
    encode_json,
    initial_state,
    prepare_batch,
    session_exists_error,
    store_not_open_error,
)
from agenthost.backends.sessions._sql_common import (
    as_bool,
    renumber,
    schema_error,
    split_scope,
    url_options,
)
from agenthost.core import serde
from agenthost.core.errors import (
    BackendUnavailable,
    InvalidArgument,
    LeaseLost,
    SessionNotFound,
    StoreError,
    redact_url,
)
from agenthost.core.events import Event
from agenthost.core.session import Session, SessionInfo, SessionKey
from agenthost.core.state import merge_state
from agenthost.ports.leases import Lease

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from agenthost.backends.sessions._redis_leases import RedisLeases

logger = logging.getLogger("agenthost.sessions.redis")

OPTIONS: Final = ("key_prefix", "migrate")
LATEST: Final = 1  # version 1: the layout above (Redis has no tables to create)
_PREFIX: Final = re.compile(r"[A-Za-z0-9_:.\-]{1,64}")


def _q(value: str) -> str:
    return quote(value, safe="")


class RedisSessionStore(OpenClose):
    """Sessions, events, state scopes and KV values in Redis (see the module doc)."""

    def __init__(
        self,
        url: str,
        *,
        max_events: int | None = None,
        ttl_seconds: float | None = None,
        clock: Clock = time.time,
        key_prefix: str = "agenthost:",
        migrate: bool | str = False,
    ) -> None:
        self._options = StoreOptions(max_events=max_events, ttl_seconds=ttl_seconds, clock=clock)
        if not isinstance(key_prefix, str) or not _PREFIX.fullmatch(key_prefix):
            raise InvalidArgument(
                "key_prefix",
                f"must be 1-64 letters, digits or '_:.-' (no glob characters), got {key_prefix!r}",
            )
        self.url = url
        self.prefix = key_prefix
        self._migrate = as_bool("migrate", migrate)
        ttl = self._options.ttl_seconds
        self._ttl_ms = "" if ttl is None else str(math.ceil(ttl * 1000))
        self._redis: Redis | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisSessionStore:
        """`redis://[:password@]host:6379/0?key_prefix=x:&migrate=true` (`rediss://`: TLS)."""
        return cls(url_options(url, OPTIONS, options), **options)

    def __repr__(self) -> str:
        state = "open" if self._redis is not None else "closed"
        return f"RedisSessionStore({redact_url(self.url)!r}, {self.prefix!r}, {state})"

    # ---- lifecycle and version ------------------------------------------------------------

    def _client(self) -> Redis:
        from redis.asyncio import Redis

        client: Redis = Redis.from_url(self.url, decode_responses=False)
        return client

    async def open(self) -> Self:
        if self._redis is not None:
            return self
        client = self._client()
        try:
            async with self._errors():
                await client.ping()
                if self._migrate:
                    await self._upgrade(client)
                current = await self._version(client)
            if current != LATEST:
                raise schema_error("Redis session store", self.url, current, LATEST)
        except BaseException:
            await client.aclose()
            raise
        self._redis = client
        return self

    async def _version(self, client: Redis) -> int:
        return int(await client.get(self.prefix + "schema_version") or 0)

    async def _upgrade(self, client: Redis) -> builtins.list[int]:
        before = int(await client.eval(lua.SET_VERSION, 1, self.prefix + "schema_version", LATEST))
        return list(range(before + 1, LATEST + 1))

    async def upgrade(self) -> builtins.list[int]:
        """Record the current layout version; returns the versions applied."""
        client = self._redis or self._client()
        try:
            async with self._errors():
                return await self._upgrade(client)
        finally:
            if client is not self._redis:
                await client.aclose()

    async def schema_version(self) -> int:
        client = self._redis or self._client()
        try:
            async with self._errors():
                return await self._version(client)
        finally:
            if client is not self._redis:
                await client.aclose()

    async def drop_tables(self) -> None:
        """Delete every key under this prefix (tests and tooling; destroys data)."""
        client = self._redis or self._client()
        try:
            async with self._errors():
                keys = [k async for k in client.scan_iter(match=self.prefix + "*", count=500)]
                if keys:
                    await client.delete(*keys)
        finally:
            if client is not self._redis:
                await client.aclose()

    async def aclose(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    async def check(self) -> None:
        """Readiness: StoreError when closed, unreachable, or the layout version is not ours."""
        if self._redis is None:
            raise StoreError(f"The Redis session store at {redact_url(self.url)!r} is not open.")
        async with self._errors():
            current = await self._version(self._redis)
        if current != LATEST:
            error = schema_error("Redis session store", self.url, current, LATEST)
            raise StoreError(error.message)

    @contextlib.asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        from redis import exceptions

        try:
            yield
        except (OSError, exceptions.ConnectionError, exceptions.TimeoutError) as exc:
            raise BackendUnavailable(
                f"Redis at {redact_url(self.url)!r} is unreachable: {exc}"
            ) from exc
        except exceptions.RedisError as exc:
            raise StoreError(f"Redis at {redact_url(self.url)!r} refused: {exc}") from exc

    @contextlib.asynccontextmanager
    async def _client_open(self) -> AsyncIterator[Redis]:
        client = self._redis
        if client is None:
            raise store_not_open_error(f"Redis session store at {redact_url(self.url)!r}")
        async with self._errors():
            yield client

    def leases(self) -> RedisLeases:
        """The lease port on this store's connections (ports/leases.py): session leases
        shared by every process using the store."""
        from agenthost.backends.sessions._redis_leases import RedisLeases

        return RedisLeases(self._client_open, self.prefix)

    # ---- keys -----------------------------------------------------------------------------

    def _keys(self, key: SessionKey) -> tuple[list[str], str]:
        """The script KEYS of a session and its member in the `exp` set."""
        p = self.prefix
        user = f"{_q(key.app)}:{_q(key.user_id)}"
        k = f"{user}:{_q(key.session_id)}"
        return [
            f"{p}s:{k}",
            f"{p}e:{k}",
            f"{p}st:{k}",
            f"{p}idx:{user}",
            f"{p}exp",
            f"{p}a:{_q(key.app)}",
            f"{p}u:{user}",
        ], k

    # ---- sessions -------------------------------------------------------------------------

    async def get(self, key: SessionKey) -> Session | None:
        key = SessionKey(*key)
        keys, _ = self._keys(key)
        async with self._client_open() as client:
            pipe = client.pipeline(transaction=True)
            pipe.hgetall(keys[0])
            pipe.lrange(keys[1], 0, -1)
            pipe.hgetall(keys[2])
            pipe.hgetall(keys[5])
            pipe.hgetall(keys[6])
            meta, blobs, own, app_state, user_state = await pipe.execute()
        if not meta:
            return None
        updated_at = float(meta[b"updated_at"])
        options = self._options
        if options.is_expired(updated_at, options.clock()):
            return None
        first = int(meta[b"last_seq"]) - len(blobs) + 1
        events = []
        for offset, blob in enumerate(blobs):
            event = serde.decode_event(blob)
            event.seq = first + offset
            events.append(event)
        return Session(
            app=key.app,
            user_id=key.user_id,
            id=key.session_id,
            state=merge_state(_hash(app_state), _hash(user_state), _hash(own)),
            events=events,
            created_at=float(meta[b"created_at"]),
            updated_at=updated_at,
        )

    async def create(self, key: SessionKey, *, state: dict[str, Any] | None = None) -> Session:
        key = SessionKey(*key)
        check_key(key)
        app_delta, user_delta, own = initial_state(state)
        own = {k: v for k, v in own.items() if v is not None}
        own_set, _ = _pairs(own, "")
        app_set, app_del = _pairs(app_delta, "app")
        user_set, user_del = _pairs(user_delta, "user")
        keys, member = self._keys(key)
        options = self._options
        now = options.clock()
        cutoff = options.cutoff(now)
        args = [
            repr(now),
            "" if cutoff is None else repr(cutoff),
            self._ttl_ms,
            _q(key.session_id),
            member,
            len(own_set) // 2,
            len(app_set) // 2,
            len(app_del),
            len(user_set) // 2,
            len(user_del),
            *own_set,
            *app_set,
            *app_del,
            *user_set,
            *user_del,
        ]
        async with self._client_open() as client:
            result = await client.eval(lua.CREATE, len(keys), *keys, *args)
        if not result:
            raise session_exists_error(key)
        app_flat, user_flat = result
        return Session(
            app=key.app,
            user_id=key.user_id,
            id=key.session_id,
            state=merge_state(_flat(app_flat), _flat(user_flat), own),
            created_at=now,
            updated_at=now,
        )

    fences_appends: Final = True  # `append(..., fence=lease)`: ports/leases.py

    async def append(
        self, session: Session, events: Sequence[Event], *, fence: Lease | None = None
    ) -> None:
        key = session.key
        check_events(events, key)
        if not events:
            return
        options = self._options
        batch = prepare_batch(events, session.last_seq)  # provisional seq: see renumber
        blobs = encode_events(batch.events)
        s_set, s_del = _pairs(batch.session_delta, "")
        a_set, a_del = _pairs(batch.app_delta, "app")
        u_set, u_del = _pairs(batch.user_delta, "user")
        keys, member = self._keys(key)
        now = options.clock()
        cutoff = options.cutoff(now)
        args = [
            repr(now),
            "" if cutoff is None else repr(cutoff),
            "" if options.max_events is None else options.max_events,
            self._ttl_ms,
            len(blobs),
            _q(key.session_id),
            member,
            len(s_set) // 2,
            len(s_del),
            len(a_set) // 2,
            len(a_del),
            len(u_set) // 2,
            len(u_del),
            *blobs,
            *s_set,
            *s_del,
            *a_set,
            *a_del,
            *u_set,
            *u_del,
        ]
        script = lua.APPEND
        if fence is not None:
            from agenthost.backends.sessions._redis_leases import token_key

            script = lua.APPEND_FENCED
            keys.append(token_key(self.prefix, fence.name))
            args.append(fence.token)
        async with self._client_open() as client:
            base = await client.eval(script, len(keys), *keys, *args)
        if base is None or isinstance(base, list):
            for event in (*events, *batch.events):
                event.seq = 0
            if fence is not None and isinstance(base, list):
                raise LeaseLost(fence.name, fence.token, int(base[1]))
            raise SessionNotFound(session.id)
        renumber(events, batch, int(base))
        apply_batch(session, batch, now=now, max_events=options.max_events)

    async def list(self, *, app: str, user_id: str) -> builtins.list[SessionInfo]:
        cutoff = self._options.cutoff(self._options.clock())
        user = f"{_q(app)}:{_q(user_id)}"
        p = self.prefix
        async with self._client_open() as client:
            low: float | str = "-inf" if cutoff is None else cutoff
            found = await client.zrevrangebyscore(f"{p}idx:{user}", "+inf", low)
            members = cast("list[bytes]", found)
            pipe = client.pipeline(transaction=False)
            for m in members:
                pipe.hmget(f"{p}s:{user}:{m.decode()}", "created_at", "updated_at", "event_count")
            rows = await pipe.execute()
        infos = []
        for m, (created, updated, count) in zip(members, rows, strict=True):
            if created is None:
                continue  # expired by Redis; purge_expired removes it from the index
            infos.append(
                SessionInfo(
                    app=app,
                    user_id=user_id,
                    id=unquote(m.decode()),
                    created_at=float(created),
                    updated_at=float(updated),
                    event_count=int(count),
                )
            )
        return infos

    async def delete(self, key: SessionKey) -> None:
        key = SessionKey(*key)
        keys, member = self._keys(key)
        async with self._client_open() as client:
            pipe = client.pipeline(transaction=True)
            pipe.delete(*keys[:3])
            pipe.zrem(keys[3], _q(key.session_id))
            pipe.zrem(keys[4], member)
            await pipe.execute()

    async def purge_expired(self) -> int:
        """Delete every session expired by TTL (and its events); returns how many."""
        cutoff = self._options.cutoff(self._options.clock())
        if cutoff is None:
            return 0
        async with self._client_open() as client:
            return int(
                await client.eval(lua.PURGE, 1, self.prefix + "exp", repr(cutoff), self.prefix)
            )

    # ---- key/value ------------------------------------------------------------------------

    def _ns(self, namespace: str) -> str:
        return f"{self.prefix}kv:{_q(namespace)}"

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        check_kv(namespace, key)
        async with self._client_open() as client:
            blob = cast("bytes | None", await client.hget(self._ns(namespace), key))
        return None if blob is None else decode_json(blob)

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value; None deletes the key."""
        check_kv(namespace, key)
        if value is None:
            await self.kv_delete(namespace, key)
            return
        blob = encode_json("value", value)
        async with self._client_open() as client:
            await client.hset(self._ns(namespace), key, blob)

    async def kv_delete(self, namespace: str, key: str) -> None:
        check_kv(namespace, key)
        async with self._client_open() as client:
            await client.hdel(self._ns(namespace), key)

    async def kv_keys(self, namespace: str) -> builtins.list[str]:
        check_kv(namespace)
        async with self._client_open() as client:
            keys = cast("list[bytes]", await client.hkeys(self._ns(namespace)))
        return sorted(k.decode() for k in keys)


def _pairs(delta: dict[str, Any], scope: str) -> tuple[list[str | bytes], list[str]]:
    """A scope's delta as flat [key, json, ...] for HSET and the keys to HDEL."""
    keys, values, deleted = split_scope(delta)
    prefix = f"{scope}:" if scope else ""
    flat: list[str | bytes] = []
    for k, v in zip(keys, values, strict=True):
        flat += [k, encode_json(f"state['{prefix}{k}']" if scope else "state", v)]
    return flat, deleted


def _hash(raw: dict[bytes, bytes]) -> dict[str, Any]:
    return {k.decode(): decode_json(v) for k, v in raw.items()}


def _flat(raw: Sequence[bytes]) -> dict[str, Any]:
    return {raw[i].decode(): decode_json(raw[i + 1]) for i in range(0, len(raw), 2)}
