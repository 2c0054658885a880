"""MySQL / MariaDB session store (`mysql://user:pw@host:3306/db`, also `mariadb://`; extra
`mysql`): asyncmy, a pool, multi-statement round trips.

MySQL has no UPDATE ... RETURNING, so a single statement cannot hand out the seq range; the
append is TWO round trips: `START TRANSACTION; SELECT ... FOR UPDATE` (the session row lock:
two processes appending to one session get unique, contiguous seq), then one multi-statement
text with the events (one multi-row INSERT), the trim, the session row, every state scope and
`COMMIT`. `get` is one round trip (five SELECTs in one read-only transaction). Values are
escaped by the driver into the statement text. `create` is two round trips (`START
TRANSACTION` and the expiry check under a row lock, then every write and `COMMIT`);
`create_with_events` (the runner's new session with its user message) is the same two, its
events written in that transaction, instead of create + append (four).

asyncmy over aiomysql: aiomysql 0.3.2 cannot escape bytes with PyMySQL 1.2 (it imports a
placeholder PyMySQL removed), and asyncmy's protocol code is compiled (Cython). Not measured
against each other: the round trips, not the driver's Python, dominate.

Options beyond `StoreOptions`: `table_prefix`, `migrate`, `pool_size`, `connect_timeout`, as
for Postgres (also as URL query parameters).
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import unquote, urlsplit

from agenthost.backends.common.lifecycle import OpenClose
from agenthost.backends.common.migrations import mysql_schema_version
from agenthost.backends.sessions import _mysql_sql as sql
from agenthost.backends.sessions._common import (
    Batch,
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
    schema_error,
    split_scope,
    url_options,
)
from agenthost.core import serde
from agenthost.core.errors import (
    BackendUnavailable,
    ConfigError,
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
    from agenthost.backends.sessions._sql_leases import MySQLLeases

logger = logging.getLogger("agenthost.sessions.mysql")

OPTIONS: Final = ("table_prefix", "migrate", "pool_size", "connect_timeout")
LATEST: Final = latest_version(sql.MIGRATIONS)
MIGRATE_LOCK_SECONDS = 60  # how long `upgrade` waits for another process's upgrade
Rows = list[tuple[Any, ...]]


def connect_args(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    if not database or "/" in database:
        raise ConfigError(
            f"MySQL URL {redact_url(url)!r} names no database: write "
            f"mysql://user:password@host:3306/database."
        )
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "db": database,
    }


class MySQLSessionStore(OpenClose):
    """Sessions, events, state scopes and KV values in MySQL/MariaDB tables (module doc)."""

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
        self._connect_args = connect_args(url)
        checked = ServerOptions.check(
            sql,
            table_prefix=table_prefix,
            migrate=migrate,
            pool_size=pool_size,
            connect_timeout=connect_timeout,
        )
        self.prefix, self._migrate, self._sql = checked.prefix, checked.migrate, checked.sql
        self._pool_size, self._timeout = checked.pool_size, checked.timeout
        self._pool: Any = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MySQLSessionStore:
        """`mysql://user:password@host:3306/db?table_prefix=x_&migrate=true`."""
        return cls(url_options(url, OPTIONS, options), **options)

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"MySQLSessionStore({redact_url(self.url)!r}, {self.prefix!r}, {state})"

    # ---- lifecycle and migrations ---------------------------------------------------------

    async def _connect(self) -> Any:
        import asyncmy
        from asyncmy.constants import CLIENT

        try:
            return await asyncmy.create_pool(
                minsize=1,
                maxsize=self._pool_size,
                autocommit=True,
                charset="utf8mb4",
                client_flag=CLIENT.MULTI_STATEMENTS,
                connect_timeout=self._timeout,
                **self._connect_args,
            )
        except Exception as exc:
            raise BackendUnavailable(
                f"Cannot connect to MySQL at {redact_url(self.url)!r}: {exc}. Is the server "
                f"running and the URL (user, password, database) right?"
            ) from exc

    async def _close_pool(self, pool: Any) -> None:
        pool.close()
        await pool.wait_closed()

    async def open(self) -> Self:
        """Connect, then refuse to start unless the schema is current (or `migrate` is set)."""
        if self._pool is not None:
            return self
        pool = await self._connect()
        try:
            if self._migrate:
                await self._upgrade(pool)
            current = await self._version(pool)
            if current != LATEST:
                raise schema_error("MySQL session store", self.url, current, LATEST)
        except BaseException:
            await self._close_pool(pool)
            raise
        self._pool = pool
        return self

    async def _version(self, pool: Any) -> int:
        async with self._errors():
            return await mysql_schema_version(pool, f"{self.prefix}schema_migrations")

    async def _upgrade(self, pool: Any) -> builtins.list[int]:
        applied: builtins.list[int] = []
        lock = f"agenthost.migrate.{self.prefix}"
        async with self._errors(), pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT GET_LOCK(%s, %s)", (lock, MIGRATE_LOCK_SECONDS))
            if (await cur.fetchone())[0] != 1:  # 0: timed out, the lock is still held
                raise StoreError(
                    f"MySQL session store: another process has been migrating "
                    f"{self.prefix}schema_migrations for {MIGRATE_LOCK_SECONDS}s; try again "
                    f"when it is done."
                )
            try:
                await cur.execute(self._sql["CREATE_MIGRATIONS"])
                await cur.execute(f"SELECT version FROM {self.prefix}schema_migrations")
                done = {r[0] for r in await cur.fetchall()}
                for migration in sql.MIGRATIONS:
                    if migration.version in done:
                        continue
                    for statement in migration.sql(self.prefix):
                        await cur.execute(statement)
                    await cur.execute(
                        f"INSERT INTO {self.prefix}schema_migrations VALUES (%s, %s)",
                        (migration.version, time.time()),
                    )
                    applied.append(migration.version)
                    logger.info("MySQL store: applied migration %d", migration.version)
            finally:
                await cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))
        return applied

    async def _with_pool(self, fn: Any) -> Any:
        if self._pool is not None:
            return await fn(self._pool)
        pool = await self._connect()
        try:
            return await fn(pool)
        finally:
            await self._close_pool(pool)

    async def upgrade(self) -> builtins.list[int]:
        """Apply the pending migrations (under GET_LOCK: one replica at a time)."""
        applied: builtins.list[int] = await self._with_pool(self._upgrade)
        return applied

    async def schema_version(self) -> int:
        version: int = await self._with_pool(self._version)
        return version

    async def drop_tables(self) -> None:
        """Drop every table of this prefix (tests and tooling; destroys data)."""

        async def drop(pool: Any) -> None:
            tables = ", ".join(self.prefix + t for t in sql.TABLES)
            async with self._errors(), pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute(f"DROP TABLE IF EXISTS {tables}")

        await self._with_pool(drop)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await self._close_pool(pool)

    async def check(self) -> None:
        """Readiness: StoreError when closed, unreachable, or the schema is not current."""
        if self._pool is None:
            raise StoreError(f"The MySQL session store at {redact_url(self.url)!r} is not open.")
        current = await self._version(self._pool)
        if current != LATEST:
            error = schema_error("MySQL session store", self.url, current, LATEST)
            raise StoreError(error.message)

    def leases(self) -> MySQLLeases:
        """The lease port on this store's connections (ports/leases.py): session leases
        shared by every process using the store."""
        from agenthost.backends.sessions._sql_leases import MySQLLeases

        return MySQLLeases(self._cursor, self.prefix)

    @contextlib.asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        from asyncmy import errors

        try:
            yield
        except (OSError, errors.OperationalError, errors.InterfaceError) as exc:
            raise BackendUnavailable(
                f"MySQL at {redact_url(self.url)!r} is unreachable: {exc}"
            ) from exc
        except errors.MySQLError as exc:
            raise StoreError(f"MySQL at {redact_url(self.url)!r} refused: {exc}") from exc

    @contextlib.asynccontextmanager
    async def _cursor(self) -> AsyncIterator[Any]:
        pool = self._pool
        if pool is None:
            raise store_not_open_error(f"MySQL session store at {redact_url(self.url)!r}")
        async with self._errors(), pool.acquire() as conn, conn.cursor() as cur:
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(Exception):
                    await cur.execute("ROLLBACK")
                raise

    async def _script(self, cur: Any, parts: Sequence[tuple[str, Sequence[Any]]]) -> list[Rows]:
        """Run statements as one multi-statement text (one round trip); every result set."""
        text = ";".join(cur.mogrify(q, tuple(a)) if a else q for q, a in parts)
        await cur.execute(text)
        sets: list[Rows] = [list(await cur.fetchall())]
        while await cur.nextset():
            sets.append(list(await cur.fetchall()))
        return sets

    # ---- sessions -------------------------------------------------------------------------

    async def get(self, key: SessionKey) -> Session | None:
        key = SessionKey(*key)
        async with self._cursor() as cur:
            await cur.execute("START TRANSACTION READ ONLY")
            head, events, own, app_rows, user_rows, _ = await self._script(
                cur, [(self._sql["GET"], (*key, *key, *key, key.app, key.app, key.user_id))]
            )
        if not head:
            return None
        created_at, updated_at = head[0]
        options = self._options
        if options.is_expired(updated_at, options.clock()):
            return None
        decoded = []
        for seq, data in events:
            event = serde.decode_event(data)
            event.seq = seq
            decoded.append(event)
        return Session(
            app=key.app,
            user_id=key.user_id,
            id=key.session_id,
            state=merge_state(_rows(app_rows), _rows(user_rows), _rows(own)),
            events=decoded,
            created_at=created_at,
            updated_at=updated_at,
        )

    async def create(self, key: SessionKey, *, state: dict[str, Any] | None = None) -> Session:
        key = SessionKey(*key)
        check_key(key)
        app_delta, user_delta, own = initial_state(state)
        own = {k: v for k, v in own.items() if v is not None}
        return await self._create(key, own, app_delta, user_delta, None)

    async def create_with_events(self, key: SessionKey, events: Sequence[Event]) -> Session:
        """Create the session with its first events, all or nothing (the runner's new session
        and its user message): `create`'s two round trips, the events in its transaction,
        instead of create + append (four). SessionExists when it exists."""
        key = SessionKey(*key)
        check_key(key)
        check_events(events, key)
        trimmed = await create_over_limit(self, key, events, self._options.max_events)
        if trimmed is not None:
            return trimmed
        batch = prepare_batch(events, 0)
        try:
            own: dict[str, Any] = {}
            apply_delta(own, batch.session_delta)
            return await self._create(key, own, batch.app_delta, batch.user_delta, batch)
        except BaseException:
            for event in (*events, *batch.events):
                event.seq = 0  # nothing was stored
            raise

    async def _create(
        self,
        key: SessionKey,
        own: dict[str, Any],
        app_delta: dict[str, Any],
        user_delta: dict[str, Any],
        batch: Batch | None,
    ) -> Session:
        """A new session with its state and (`batch`) first events in one transaction: two
        round trips (the expiry check under a row lock, then every write and COMMIT)."""
        own_rows = [("LAST_INSERT_ID()", k, encode_json("state", v)) for k, v in own.items()]
        stored = [] if batch is None else batch.events
        event_rows = [
            ("LAST_INSERT_ID()", e.seq, e.id, e.run_id, e.type, e.timestamp, blob)
            for e, blob in zip(stored, encode_events(stored), strict=True)
        ]
        shared = self._shared_writes(key, app_delta, user_delta)
        options = self._options
        async with self._cursor() as cur:
            now = options.clock()
            _, row = await self._script(
                cur, [("START TRANSACTION", ()), (self._sql["SELECT_EXPIRY"], key)]
            )
            parts: list[tuple[str, Sequence[Any]]] = []
            if row:
                if not options.is_expired(row[0][0], now):
                    raise session_exists_error(key)
                parts.append((self._sql["DELETE_SESSION"], key))
            count = len(event_rows)
            parts.append((self._sql["INSERT_SESSION"], (*key, now, now, count, count)))
            if event_rows:
                parts.append(
                    _upsert(
                        self._sql["INSERT_EVENTS"], event_rows, raw_first=True, on_duplicate=False
                    )
                )
            if own_rows:
                parts.append(_upsert(self._sql["UPSERT_OWN"], own_rows, raw_first=True))
            parts += shared
            parts.append((self._sql["SHARED"], (key.app, key.app, key.user_id)))
            parts.append(("COMMIT", ()))
            sets = await self._script(cur, parts)
        return Session(
            app=key.app,
            user_id=key.user_id,
            id=key.session_id,
            state=merge_state(_rows(sets[-3]), _rows(sets[-2]), own),
            events=list(stored),
            created_at=now,
            updated_at=now,
        )

    def _shared_writes(
        self, key: SessionKey, app_delta: dict[str, Any], user_delta: dict[str, Any]
    ) -> list[tuple[str, Sequence[Any]]]:
        parts: list[tuple[str, Sequence[Any]]] = []
        keys, values, deleted = split_scope(app_delta)
        if keys:
            rows = [
                (key.app, k, encode_json(f"state['app:{k}']", v))
                for k, v in zip(keys, values, strict=True)
            ]
            parts.append(_upsert(self._sql["UPSERT_APP"], rows))
        if deleted:
            parts.append(_delete_in(self._sql["DELETE_APP"], (key.app,), deleted))
        keys, values, deleted = split_scope(user_delta)
        if keys:
            user_rows = [
                (key.app, key.user_id, k, encode_json(f"state['user:{k}']", v))
                for k, v in zip(keys, values, strict=True)
            ]
            parts.append(_upsert(self._sql["UPSERT_USER"], user_rows))
        if deleted:
            parts.append(_delete_in(self._sql["DELETE_USER"], (key.app, key.user_id), deleted))
        return parts

    fences_appends: Final = True  # `append(..., fence=lease)`: ports/leases.py

    async def append(
        self, session: Session, events: Sequence[Event], *, fence: Lease | None = None
    ) -> None:
        key = session.key
        check_events(events, key)
        if not events:
            return
        options = self._options
        limit = options.max_events
        async with self._cursor() as cur:
            opening: list[tuple[str, Sequence[Any]]] = [
                ("START TRANSACTION", ()),
                (self._sql["LOCK_SESSION"], key),
            ]
            if fence is not None:
                opening.append((self._sql["LOCK_FENCE"], (fence.name,)))
            _, lock, *fenced = await self._script(cur, opening)
            if fence is not None and fenced and fenced[0] and fenced[0][0][0] > fence.token:
                raise LeaseLost(fence.name, fence.token, fenced[0][0][0])  # rolled back
            now = options.clock()
            if not lock or options.is_expired(lock[0][2], now):
                raise SessionNotFound(session.id)
            sid, last_seq, _, count = lock[0]
            batch = prepare_batch(events, last_seq)
            blobs = encode_events(batch.events)
            rows = [
                (sid, e.seq, e.id, e.run_id, e.type, e.timestamp, blob)
                for e, blob in zip(batch.events, blobs, strict=True)
            ]
            parts: list[tuple[str, Sequence[Any]]] = [
                _upsert(self._sql["INSERT_EVENTS"], rows, on_duplicate=False)
            ]
            count += len(rows)
            if limit is not None and count > limit:
                parts.append((self._sql["TRIM"], (sid, batch.last_seq - limit)))
                count = limit
            parts.append((self._sql["UPDATE_SESSION"], (batch.last_seq, now, count, sid)))
            keys, values, deleted = split_scope(batch.session_delta)
            if keys:
                own = [
                    (sid, k, encode_json("state_delta", v))
                    for k, v in zip(keys, values, strict=True)
                ]
                parts.append(_upsert(self._sql["UPSERT_OWN"], own))
            if deleted:
                parts.append(_delete_in(self._sql["DELETE_OWN"], (sid,), deleted))
            parts += self._shared_writes(key, batch.app_delta, batch.user_delta)
            parts.append(("COMMIT", ()))
            await self._script(cur, parts)
        apply_batch(session, batch, now=now, max_events=limit)

    async def list(self, *, app: str, user_id: str) -> builtins.list[SessionInfo]:
        cutoff = self._options.cutoff(self._options.clock())
        async with self._cursor() as cur:
            await cur.execute(
                self._sql["LIST"], (app, user_id, -1e308 if cutoff is None else cutoff)
            )
            rows = await cur.fetchall()
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
        async with self._cursor() as cur:
            await cur.execute(self._sql["DELETE_SESSION"], SessionKey(*key))

    async def purge_expired(self) -> int:
        """Delete every session expired by TTL (and its events); returns how many."""
        cutoff = self._options.cutoff(self._options.clock())
        if cutoff is None:
            return 0
        async with self._cursor() as cur:
            count: int = await cur.execute(self._sql["PURGE"], (cutoff,))
        return count

    # ---- key/value ------------------------------------------------------------------------

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        check_kv(namespace, key)
        async with self._cursor() as cur:
            await cur.execute(self._sql["KV_GET"], (namespace, key))
            row = await cur.fetchone()
        return None if row is None else decode_json(row[0])

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value; None deletes the key."""
        check_kv(namespace, key)
        if value is None:
            await self.kv_delete(namespace, key)
            return
        blob = encode_json("value", value)
        async with self._cursor() as cur:
            await cur.execute(self._sql["KV_SET"], (namespace, key, blob))

    async def kv_delete(self, namespace: str, key: str) -> None:
        check_kv(namespace, key)
        async with self._cursor() as cur:
            await cur.execute(self._sql["KV_DELETE"], (namespace, key))

    async def kv_keys(self, namespace: str) -> builtins.list[str]:
        check_kv(namespace)
        async with self._cursor() as cur:
            await cur.execute(self._sql["KV_KEYS"], (namespace,))
            return [r[0] for r in await cur.fetchall()]


def _upsert(
    head: str,
    rows: Sequence[tuple[Any, ...]],
    *,
    raw_first: bool = False,
    on_duplicate: bool = True,
) -> tuple[str, list[Any]]:
    """A multi-row INSERT; `raw_first`: the first column is SQL (LAST_INSERT_ID()), not a value."""
    width = len(rows[0]) - (1 if raw_first else 0)
    lead = f"{rows[0][0]}, " if raw_first else ""
    one = "(" + lead + ", ".join(["%s"] * width) + ")"
    args = [v for row in rows for v in (row[1:] if raw_first else row)]
    text = head + ", ".join([one] * len(rows))
    return text + (sql.ON_DUPLICATE if on_duplicate else ""), args


def _delete_in(head: str, fixed: tuple[Any, ...], keys: Sequence[str]) -> tuple[str, Sequence[Any]]:
    return head + "(" + ", ".join(["%s"] * len(keys)) + ")", [*fixed, *keys]


def _rows(rows: Rows) -> dict[str, Any]:
    return {k: decode_json(v) for k, v in rows}
