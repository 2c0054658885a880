"""Postgres session store (`postgresql://user@host:5432/db`, extra `postgres`): asyncpg, a pool.

Round trips (benchmarks/pg_drivers.py picked the driver and the shape; asyncpg and psycopg 3
measured within a few % of each other, the one-statement append 2.2x faster than the classic
BEGIN/SELECT FOR UPDATE/INSERT/UPDATE/COMMIT transaction in either):

- `append`: ONE statement (a data-modifying CTE, `_postgres_sql.APPEND`, or `APPEND_EVENTS`
  when the batch changes no state and nothing is trimmed). Its UPDATE locks the
  session row and returns the old `last_seq`, so two processes appending to one session get
  unique, contiguous seq ranges; events, the trim to `max_events` and every state scope are
  written in the same statement (one implicit transaction), only if the session is alive.
- `get`: ONE query (the row, its events and the three state scopes as arrays). Nothing is
  cached: another replica may have written, and one round trip is what a cache check costs.
- `create`: ONE statement without initial state or TTL (`CREATE_BARE`: the insert and the
  shared scopes' read), else one transaction of a few statements (once per session).
- `create_with_events` (the runner's new session with its user message): ONE statement
  (`CREATE_WITH_EVENTS`: the row, the events, the shared scopes' read) when the events change
  no state and there is no TTL, else one transaction; instead of `create` + `append`.

The seq numbers in the stored event blobs are provisional; the `seq` column is the truth and
is set on every event read. Sessions handed out are fresh objects; `append` updates the one
passed in place (events appended, state merged) like the other stores.

Options beyond `StoreOptions`: `table_prefix` (default `agenthost_`: several deployments or
test runs can share a database), `migrate` (apply pending migrations at start-up instead of
refusing), `pool_size` (default 10), `connect_timeout` (seconds, default 10). Each may also be
given as a URL query parameter (`?table_prefix=x_&migrate=true`).
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Self

from agenthost.backends.common.lifecycle import OpenClose
from agenthost.backends.common.sql_servers import no_reset
from agenthost.backends.sessions import _postgres_sql as sql
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
    ServerOptions,
    create_over_limit,
    latest_version,
    renumber,
    schema_error,
    split_scope,
    url_options,
)
from agenthost.core import serde
from agenthost.core.errors import (
    BackendUnavailable,
    LeaseLost,
    SessionNotFound,
    StoreError,
    redact_url,
)
from agenthost.core.events import Event
from agenthost.core.session import Session, SessionInfo, SessionKey
from agenthost.core.state import apply_delta, merge_state
from agenthost.ports.leases import Lease

if TYPE_CHECKING:
    import asyncpg

    from agenthost.backends.sessions._sql_leases import PostgresLeases

logger = logging.getLogger("agenthost.sessions.postgres")

OPTIONS: Final = ("table_prefix", "migrate", "pool_size", "connect_timeout")
LATEST: Final = latest_version(sql.MIGRATIONS)


class PostgresSessionStore(OpenClose):
    """Sessions, events, state scopes and KV values in Postgres tables (see the module doc)."""

    def __init__(
        self,
        url: str,
        *,
        max_events: int | None = None,
        ttl_seconds: float | None = None,
        clock: Clock = time.time,
        table_prefix: str = "agenthost_",
        migrate: bool | str = False,
        pool_size: int | str = 10,
        connect_timeout: float | str = 10.0,
    ) -> None:
        self._options = StoreOptions(max_events=max_events, ttl_seconds=ttl_seconds, clock=clock)
        self.url = url
        checked = ServerOptions.check(
            sql,
            table_prefix=table_prefix,
            migrate=migrate,
            pool_size=pool_size,
            connect_timeout=connect_timeout,
        )
        self.prefix, self._migrate, self._sql = checked.prefix, checked.migrate, checked.sql
        self._pool_size, self._timeout = checked.pool_size, checked.timeout
        self._pool: asyncpg.Pool | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresSessionStore:
        """`postgresql://user:password@host:5432/db?table_prefix=x_&migrate=true`."""
        return cls(url_options(url, OPTIONS, options), **options)

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"PostgresSessionStore({redact_url(self.url)!r}, {self.prefix!r}, {state})"

    # ---- lifecycle and migrations ---------------------------------------------------------

    async def open(self) -> Self:
        """Connect, then refuse to start unless the schema is current (or `migrate` is set)."""
        if self._pool is not None:
            return self
        pool = await self._connect()
        try:
            async with self._errors():
                if self._migrate:
                    await self._upgrade(pool)
                current = await self._version(pool)
            if current != LATEST:
                raise schema_error("Postgres session store", self.url, current, LATEST)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        return self

    async def _connect(self) -> asyncpg.Pool:
        import asyncpg

        try:
            pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._timeout,
                reset=no_reset,  # no reset query on release: see its doc
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise BackendUnavailable(
                f"Cannot connect to Postgres at {redact_url(self.url)!r}: {exc}. Is the server "
                f"running and the URL (user, password, database) right?"
            ) from exc
        assert pool is not None
        return pool

    async def upgrade(self) -> builtins.list[int]:
        """Apply the pending migrations (under an advisory lock: one replica at a time);
        returns the versions applied. Works whether or not the store is open."""
        if self._pool is not None:
            async with self._errors():
                return await self._upgrade(self._pool)
        pool = await self._connect()
        try:
            async with self._errors():
                return await self._upgrade(pool)
        finally:
            await pool.close()

    async def schema_version(self) -> int:
        """The version the database is at (0: no agenthost tables under this prefix)."""
        pool = self._pool or await self._connect()
        try:
            async with self._errors():
                return await self._version(pool)
        finally:
            if pool is not self._pool:
                await pool.close()

    async def _version(self, pool: asyncpg.Pool) -> int:
        table = f"{self.prefix}schema_migrations"
        async with pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass($1)", table) is None:
                return 0
            return int(await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {table}"))

    async def _upgrade(self, pool: asyncpg.Pool) -> builtins.list[int]:
        applied: builtins.list[int] = []
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.prefix)
            await conn.execute(sql.CREATE_MIGRATIONS.replace("{p}", self.prefix))
            done = {
                r[0]
                for r in await conn.fetch(f"SELECT version FROM {self.prefix}schema_migrations")
            }
            for migration in sql.MIGRATIONS:
                if migration.version in done:
                    continue
                for statement in migration.sql(self.prefix):
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {self.prefix}schema_migrations VALUES ($1, $2)",
                    migration.version,
                    time.time(),
                )
                applied.append(migration.version)
                logger.info("Postgres store: applied migration %d", migration.version)
        return applied

    async def drop_tables(self) -> None:
        """Drop every table of this prefix (tests and `agenthost db` tooling; destroys data)."""
        pool = self._pool or await self._connect()
        try:
            tables = ", ".join(self.prefix + t for t in sql.TABLES)
            async with self._errors(), pool.acquire() as conn:
                await conn.execute(f"DROP TABLE IF EXISTS {tables} CASCADE")
        finally:
            if pool is not self._pool:
                await pool.close()

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def check(self) -> None:
        """Readiness: StoreError when closed, unreachable, or the schema is not current."""
        if self._pool is None:
            raise StoreError(f"The Postgres session store at {redact_url(self.url)!r} is not open.")
        async with self._errors():
            current = await self._version(self._pool)
        if current != LATEST:
            raise StoreError(
                schema_error("Postgres session store", self.url, current, LATEST).message
            )

    def leases(self) -> PostgresLeases:
        """The lease port on this store's connections (ports/leases.py): session leases
        shared by every process using the store."""
        from agenthost.backends.sessions._sql_leases import PostgresLeases

        return PostgresLeases(self._conn, self.prefix)

    @contextlib.asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        """Translate driver errors at this seam: unreachable -> BackendUnavailable, any other
        server error -> StoreError (with the server's message)."""
        import asyncpg

        try:
            yield
        except (
            OSError,
            TimeoutError,
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
        ) as exc:
            raise BackendUnavailable(
                f"Postgres at {redact_url(self.url)!r} is unreachable: {exc}"
            ) from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"Postgres at {redact_url(self.url)!r} refused: {exc}") from exc

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        pool = self._pool
        if pool is None:
            raise store_not_open_error(f"Postgres session store at {redact_url(self.url)!r}")
        async with self._errors(), pool.acquire() as conn:
            yield conn

    # ---- sessions -------------------------------------------------------------------------

    async def get(self, key: SessionKey) -> Session | None:
        key = SessionKey(*key)
        async with self._conn() as conn:
            row = await conn.fetchrow(self._sql["SELECT_SESSION"], *key)
        if row is None:
            return None
        created_at, updated_at, seqs, datas, sk, sv, ak, av, uk, uv = row
        options = self._options
        if options.is_expired(updated_at, options.clock()):
            return None
        events = _decode_events(seqs, datas)
        return Session(
            app=key.app,
            user_id=key.user_id,
            id=key.session_id,
            state=merge_state(_pairs(ak, av), _pairs(uk, uv), _pairs(sk, sv)),
            events=events,
            created_at=created_at,
            updated_at=updated_at,
        )

    async def create(self, key: SessionKey, *, state: dict[str, Any] | None = None) -> Session:
        key = SessionKey(*key)
        check_key(key)
        app_delta, user_delta, own = initial_state(state)
        own = {k: v for k, v in own.items() if v is not None}
        options = self._options
        now = options.clock()
        if not (own or app_delta or user_delta) and options.cutoff(now) is None:
            async with self._conn() as conn:  # the usual case: one statement
                sid, *shared = await conn.fetchrow(self._sql["CREATE_BARE"], *key, now)
        else:
            async with self._conn() as conn, conn.transaction():
                sid, *shared = await self._create_with_state(
                    conn, key, now, own, app_delta, user_delta
                )
        if sid is None:
            raise session_exists_error(key)
        ak, av, uk, uv = shared
        return Session(
            app=key.app,
            user_id=key.user_id,
            id=key.session_id,
            state=merge_state(_pairs(ak, av), _pairs(uk, uv), own),
            created_at=now,
            updated_at=now,
        )

    async def _create_with_state(
        self,
        conn: asyncpg.Connection,
        key: SessionKey,
        now: float,
        own: dict[str, Any],
        app_delta: dict[str, Any],
        user_delta: dict[str, Any],
    ) -> builtins.list[Any]:
        """`create`'s statements in its transaction: (sid or None, the shared scopes' arrays)."""
        app_keys, app_vals, app_del = _encoded(app_delta, "app")
        user_keys, user_vals, user_del = _encoded(user_delta, "user")
        cutoff = self._options.cutoff(now)
        if cutoff is not None:
            await conn.execute(self._sql["DELETE_EXPIRED_ONE"], *key, cutoff)
        sid = await conn.fetchval(self._sql["INSERT_SESSION"], *key, now)
        if sid is None:
            return [None, (), (), (), ()]
        if own:
            own_blobs = [encode_json("state", v) for v in own.values()]
            await conn.execute(self._sql["INSERT_OWN_STATE"], sid, list(own), own_blobs)
        if app_keys:
            await conn.execute(self._sql["UPSERT_APP"], key.app, app_keys, app_vals)
        if app_del:
            await conn.execute(self._sql["DELETE_APP"], key.app, app_del)
        if user_keys:
            await conn.execute(self._sql["UPSERT_USER"], key.app, key.user_id, user_keys, user_vals)
        if user_del:
            await conn.execute(self._sql["DELETE_USER"], key.app, key.user_id, user_del)
        shared = await conn.fetchrow(self._sql["SELECT_SHARED"], key.app, key.user_id)
        return [sid, *shared]

    async def create_with_events(self, key: SessionKey, events: Sequence[Event]) -> Session:
        """Create the session with its first events, all or nothing (the runner's new session
        and its user message): ONE statement when the events change no state and there is no
        TTL (`CREATE_WITH_EVENTS`), else one transaction. SessionExists when it exists."""
        key = SessionKey(*key)
        check_key(key)
        check_events(events, key)
        options = self._options
        trimmed = await create_over_limit(self, key, events, self._options.max_events)
        if trimmed is not None:
            return trimmed
        batch = prepare_batch(events, 0)
        try:
            columns = _columns(batch.events)
            now = options.clock()
            if not batch.has_state and options.cutoff(now) is None:
                async with self._conn() as conn:  # the usual case: one statement
                    sid, *shared = await conn.fetchrow(
                        self._sql["CREATE_WITH_EVENTS"], *key, now, len(columns[0]), *columns
                    )
            else:
                own: dict[str, Any] = {}
                apply_delta(own, batch.session_delta)
                async with self._conn() as conn, conn.transaction():
                    sid, *shared = await self._create_with_state(
                        conn, key, now, own, batch.app_delta, batch.user_delta
                    )
                    if sid is not None:
                        await conn.execute(self._sql["INSERT_FIRST_EVENTS"], sid, *columns)
        except BaseException:
            _undo(events, batch.events)
            raise
        if sid is None:
            _undo(events, batch.events)
            raise session_exists_error(key)
        ak, av, uk, uv = shared
        session = Session(
            app=key.app,
            user_id=key.user_id,
            id=key.session_id,
            state=merge_state(_pairs(ak, av), _pairs(uk, uv), {}),
            created_at=now,
            updated_at=now,
        )
        apply_batch(session, batch, now=now, max_events=options.max_events)
        return session

    fences_appends: Final = True  # `append(..., fence=lease)`: ports/leases.py

    async def append(
        self, session: Session, events: Sequence[Event], *, fence: Lease | None = None
    ) -> None:
        key = session.key
        check_events(events, key)
        if not events:
            return
        options = self._options
        batch = prepare_batch(events, session.last_seq)  # seq provisional: see renumber
        blobs = encode_events(batch.events)
        sk, sv, sd = _encoded(batch.session_delta, "")
        ak, av, ad = _encoded(batch.app_delta, "app")
        uk, uv, ud = _encoded(batch.user_delta, "user")
        stored = batch.events
        now = options.clock()
        fenced = () if fence is None else (fence.name, fence.token)
        columns = _columns(stored, blobs)
        args: tuple[Any, ...]
        if options.max_events is None and not (sk or sd or ak or ad or uk or ud):
            name, args = "APPEND_EVENTS", (now, options.cutoff(now), *columns)  # the lean one
        else:
            name = "APPEND"
            args = (now, options.cutoff(now), options.max_events, *columns)
            args += (sk, sv, sd, ak, av, ad, uk, uv, ud)
        async with self._conn() as conn:
            row = await conn.fetchrow(
                self._sql[name if fence is None else f"{name}_FENCED"],
                *key,
                len(stored),
                *args,
                *fenced,
            )
        base = None if row is None else row[0]
        if base is None:
            _undo(events, batch.events)
            if fence is not None and row is not None and (row[1] or 0) > fence.token:
                raise LeaseLost(fence.name, fence.token, row[1])
            raise SessionNotFound(session.id)
        renumber(events, batch, base)
        apply_batch(session, batch, now=now, max_events=options.max_events)

    async def list(self, *, app: str, user_id: str) -> builtins.list[SessionInfo]:
        cutoff = self._options.cutoff(self._options.clock())
        async with self._conn() as conn:
            rows = await conn.fetch(self._sql["LIST"], app, user_id, cutoff)
        return [
            SessionInfo(
                app=app,
                user_id=user_id,
                id=session_id,
                created_at=created_at,
                updated_at=updated_at,
                event_count=event_count,
            )
            for session_id, created_at, updated_at, event_count in rows
        ]

    async def delete(self, key: SessionKey) -> None:
        async with self._conn() as conn:
            await conn.execute(self._sql["DELETE_SESSION"], *SessionKey(*key))

    async def purge_expired(self) -> int:
        """Delete every session expired by TTL (and its events); returns how many."""
        cutoff = self._options.cutoff(self._options.clock())
        if cutoff is None:
            return 0
        async with self._conn() as conn:
            status = await conn.execute(self._sql["PURGE"], cutoff)
        return int(status.split()[-1])

    # ---- key/value ------------------------------------------------------------------------

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        check_kv(namespace, key)
        async with self._conn() as conn:
            blob = await conn.fetchval(self._sql["KV_GET"], namespace, key)
        return None if blob is None else decode_json(blob)

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value; None deletes the key."""
        check_kv(namespace, key)
        if value is None:
            await self.kv_delete(namespace, key)
            return
        blob = encode_json("value", value)
        async with self._conn() as conn:
            await conn.execute(self._sql["KV_SET"], namespace, key, blob)

    async def kv_delete(self, namespace: str, key: str) -> None:
        check_kv(namespace, key)
        async with self._conn() as conn:
            await conn.execute(self._sql["KV_DELETE"], namespace, key)

    async def kv_keys(self, namespace: str) -> builtins.list[str]:
        check_kv(namespace)
        async with self._conn() as conn:
            return [r[0] for r in await conn.fetch(self._sql["KV_KEYS"], namespace)]


def _decode_events(seqs: Sequence[int], datas: Sequence[bytes]) -> list[Event]:
    decode = serde.decode_event
    events = []
    for seq, data in zip(seqs, datas, strict=True):
        event = decode(data)
        event.seq = seq
        events.append(event)
    return events


def _columns(stored: Sequence[Event], blobs: Sequence[bytes] | None = None) -> tuple[Any, ...]:
    """The events as the five arrays `_insert_events` unnests (ids, run ids, types,
    timestamps, blobs); InvalidArgument when one cannot be encoded."""
    return (
        [e.id for e in stored],
        [e.run_id for e in stored],
        [e.type for e in stored],
        [e.timestamp for e in stored],
        encode_events(stored) if blobs is None else blobs,
    )


def _pairs(keys: Sequence[str], values: Sequence[bytes]) -> dict[str, Any]:
    return {k: decode_json(v) for k, v in zip(keys, values, strict=True)}


def _encoded(delta: dict[str, Any], scope: str) -> tuple[list[str], list[bytes], list[str]]:
    keys, values, deleted = split_scope(delta)
    prefix = f"{scope}:" if scope else ""
    blobs = [encode_json(f"state['{prefix}{k}']", v) for k, v in zip(keys, values, strict=True)]
    return keys, blobs, deleted


def _undo(events: Sequence[Event], stored: Sequence[Event]) -> None:
    """Nothing was stored: the events are not numbered."""
    for event in (*events, *stored):
        event.seq = 0
