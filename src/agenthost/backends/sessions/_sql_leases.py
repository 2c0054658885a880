"""Leases in Postgres and MySQL/MariaDB (the lease port, ports/leases.py), on the store's pool.

One row per lease name in `{prefix}leases` (name, holder, token, expires_at, interrupt), kept
after release (expires_at = 0) so that the next holder's token is the last one + 1: tokens
only grow. `expires_at` is the database's clock (seconds since the epoch), never a replica's.
Each operation is one statement (acquire on MySQL: an INSERT of the row if it is missing, then
one conditional UPDATE). The table holds only short-lived rows with nothing to migrate, so it is
created on first use (CREATE TABLE IF NOT EXISTS) and dropped with the store's tables.
The waiters' queue (LeaseQueue) is `{prefix}lease_waiters`: made on first use on Postgres, a
versioned migration of the MySQL session store (its step 3, `agenthost db upgrade`).

On Postgres, renew and release commit asynchronously (`synchronous_commit` off for their own
transaction only, set inside the statement: still one round trip): they do not wait for the
WAL flush. Only a Postgres crash in the next fraction of a second can lose one; a lost
release leaves the lease held until it expires (the next run waits up to the lease's ttl), a
lost renew lets it expire sooner, and then the fencing token refuses the old holder's
appends (`lease_lost`). Acquire stays synchronous: a lost acquire could hand the same token
out twice. Any later synchronous commit (the next append) flushes the earlier ones too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

from agenthost.backends.common.grouped import Grouped
from agenthost.ports.leases import Lease

PG_NOW: Final = "extract(epoch from clock_timestamp())"
# a FROM item that sets `synchronous_commit = off` for the statement's transaction only (the
# function form of SET LOCAL, so the statement stays one round trip): see the module doc
PG_ASYNC_COMMIT: Final = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
PG: Final = {
    "CREATE": """CREATE TABLE IF NOT EXISTS {p}leases (
        name text COLLATE "C" PRIMARY KEY, holder text NOT NULL, token bigint NOT NULL,
        expires_at double precision NOT NULL, interrupt text) WITH (fillfactor = 70)""",
    "ACQUIRE": f"""INSERT INTO {{p}}leases AS l (name, holder, token, expires_at, interrupt)
        VALUES ($1, $2, 1, {PG_NOW} + $3, NULL)
        ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, token = l.token + 1,
            expires_at = EXCLUDED.expires_at, interrupt = NULL
        WHERE l.expires_at <= {PG_NOW}
        RETURNING token""",
    "RENEW": f"""UPDATE {{p}}leases SET expires_at = {PG_NOW} + $3 FROM {PG_ASYNC_COMMIT}
        WHERE name = $1 AND token = $2 AND expires_at > {PG_NOW} RETURNING interrupt""",
    "RELEASE": f"""UPDATE {{p}}leases SET expires_at = 0 FROM {PG_ASYNC_COMMIT}
        WHERE name = $1 AND token = $2 AND expires_at > {PG_NOW} RETURNING token""",
    # releases made together (PostgresLeases.release): ($1 names, $2 tokens); the rows are
    # locked in name order first, so two batches never wait on each other in a cycle
    "RELEASE_MANY": f"""WITH d AS (
            SELECT * FROM unnest($1::text[], $2::bigint[]) AS d(name, token)
        ), locked AS (
            SELECT l.name, l.token FROM {{p}}leases l
            JOIN d ON l.name = d.name AND l.token = d.token
            WHERE l.expires_at > {PG_NOW} ORDER BY l.name FOR UPDATE OF l
        )
        UPDATE {{p}}leases l SET expires_at = 0 FROM locked, {PG_ASYNC_COMMIT}
        WHERE l.name = locked.name AND l.token = locked.token AND l.expires_at > {PG_NOW}
        RETURNING l.name, l.token""",
    "CURRENT": f"""SELECT holder, token, expires_at - {PG_NOW}, interrupt FROM {{p}}leases
        WHERE name = $1 AND expires_at > {PG_NOW}""",
    "INTERRUPT": f"""UPDATE {{p}}leases SET interrupt = $2
        WHERE name = $1 AND expires_at > {PG_NOW} RETURNING token""",
}

# The waiters' queue (ports/leases.py LeaseQueue): one row per waiting run, in ticket order.
PG_QUEUE: Final = {
    "CREATE": """CREATE TABLE IF NOT EXISTS {p}lease_waiters (
        ticket bigserial PRIMARY KEY, name text COLLATE "C" NOT NULL, holder text NOT NULL,
        expires_at double precision NOT NULL);
        CREATE INDEX IF NOT EXISTS {p}lease_waiters_name ON {p}lease_waiters (name, ticket)""",
    "ENQUEUE": f"""WITH gone AS (
            DELETE FROM {{p}}lease_waiters WHERE name = $1 AND expires_at <= {PG_NOW})
        INSERT INTO {{p}}lease_waiters (name, holder, expires_at)
        VALUES ($1, $2, {PG_NOW} + $3) RETURNING ticket""",
    # a newcomer (no ticket): the lease is tried first, and the queue read only when the name
    # has a row and it is free (a name without a row has no waiters: a run queues only after
    # an acquire failed on a held row, and rows are kept). The common case, a free or new
    # name and nobody waiting, is one INSERT, without the ticket branches of ACQUIRE below
    "ACQUIRE_FIRST": f"""INSERT INTO {{p}}leases AS l (name, holder, token, expires_at, interrupt)
        VALUES ($1, $2, 1, {PG_NOW} + $3, NULL)
        ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, token = l.token + 1,
            expires_at = EXCLUDED.expires_at, interrupt = NULL
        WHERE l.expires_at <= {PG_NOW} AND NOT EXISTS (
            SELECT 1 FROM {{p}}lease_waiters w WHERE w.name = $1 AND w.expires_at > {PG_NOW})
        RETURNING token""",
    # $4: the caller's ticket or NULL. Taken only when free and no live waiter is ahead; the
    # ticket then leaves the queue, else it is kept alive for another $3 seconds
    "ACQUIRE": f"""WITH ahead AS (
            SELECT 1 FROM {{p}}lease_waiters WHERE name = $1 AND expires_at > {PG_NOW}
                AND ($4::bigint IS NULL OR ticket < $4) LIMIT 1
        ), got AS (
            INSERT INTO {{p}}leases AS l (name, holder, token, expires_at, interrupt)
            SELECT $1, $2, 1, {PG_NOW} + $3, NULL WHERE NOT EXISTS (SELECT 1 FROM ahead)
            ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, token = l.token + 1,
                expires_at = EXCLUDED.expires_at, interrupt = NULL
            WHERE l.expires_at <= {PG_NOW}
            RETURNING token
        ), served AS (
            DELETE FROM {{p}}lease_waiters
            WHERE name = $1 AND ticket = $4 AND EXISTS (SELECT 1 FROM got)
        ), waiting AS (
            UPDATE {{p}}lease_waiters SET expires_at = {PG_NOW} + $3
            WHERE name = $1 AND ticket = $4 AND NOT EXISTS (SELECT 1 FROM got)
        )
        SELECT token FROM got""",
    "TOUCH": f"""UPDATE {{p}}lease_waiters SET expires_at = {PG_NOW} + $3
        WHERE name = $1 AND ticket = $2""",
    "DEQUEUE": "DELETE FROM {p}lease_waiters WHERE name = $1 AND ticket = $2",
}

MY_NOW: Final = "UNIX_TIMESTAMP(NOW(6))"
MYSQL: Final = {
    "CREATE": """CREATE TABLE IF NOT EXISTS {p}leases (
        name VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
        holder VARCHAR(512) NOT NULL, token BIGINT NOT NULL, expires_at DOUBLE NOT NULL,
        interrupt TEXT NULL) ENGINE=InnoDB""",
    # the row made once (tokens then only grow); not INSERT IGNORE: its duplicate-key warning
    # costs a SHOW WARNINGS round trip (asyncmy fetches and logs every warning)
    "INSERT": """INSERT INTO {p}leases VALUES (%s, '', 0, 0, NULL)
        ON DUPLICATE KEY UPDATE name = name""",
    "ACQUIRE": f"""UPDATE {{p}}leases SET holder = %s, token = token + 1,
        expires_at = {MY_NOW} + %s, interrupt = NULL
        WHERE name = %s AND expires_at <= {MY_NOW}""",
    "TOKEN": "SELECT token FROM {p}leases WHERE name = %s AND holder = %s",
    "RENEW": f"""UPDATE {{p}}leases SET expires_at = {MY_NOW} + %s
        WHERE name = %s AND token = %s AND expires_at > {MY_NOW}""",
    "INTERRUPT_OF": "SELECT interrupt FROM {p}leases WHERE name = %s AND token = %s",
    "RELEASE": f"""UPDATE {{p}}leases SET expires_at = 0
        WHERE name = %s AND token = %s AND expires_at > {MY_NOW}""",
    "CURRENT": f"""SELECT holder, token, expires_at - {MY_NOW}, interrupt FROM {{p}}leases
        WHERE name = %s AND expires_at > {MY_NOW}""",
    "INTERRUPT": f"""UPDATE {{p}}leases SET interrupt = %s
        WHERE name = %s AND expires_at > {MY_NOW}""",
}

# The waiters' queue on MySQL/MariaDB (LeaseQueue): one row per waiting run, in ticket order.
# The table is versioned (migration 3 of the MySQL session store, _mysql_sql.py), not made on
# first use. MySQL has neither data-modifying CTEs nor RETURNING: acquire_queued is the lease's
# conditional UPDATE with "no live waiter ahead" as a subquery (one statement, so the check
# and the take are atomic), then the ticket leaves the queue (taken) or is kept alive.
MYSQL_QUEUE_TABLE: Final = """CREATE TABLE IF NOT EXISTS {p}lease_waiters (
    ticket BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    holder VARCHAR(512) NOT NULL, expires_at DOUBLE NOT NULL,
    KEY by_name (name, ticket)) ENGINE=InnoDB"""
MYSQL_QUEUE: Final = {
    "GONE": f"DELETE FROM {{p}}lease_waiters WHERE name = %s AND expires_at <= {MY_NOW}",
    "ENQUEUE": f"""INSERT INTO {{p}}lease_waiters (name, holder, expires_at)
        VALUES (%s, %s, {MY_NOW} + %s)""",
    # (holder, ttl, name, name, ticket, ticket): free, and no live waiter ahead of the ticket
    # (with no ticket: no live waiter at all)
    "ACQUIRE": f"""UPDATE {{p}}leases SET holder = %s, token = token + 1,
        expires_at = {MY_NOW} + %s, interrupt = NULL
        WHERE name = %s AND expires_at <= {MY_NOW} AND NOT EXISTS (
            SELECT 1 FROM {{p}}lease_waiters w WHERE w.name = %s AND w.expires_at > {MY_NOW}
                AND (%s IS NULL OR w.ticket < %s))""",
    "TOUCH": f"""UPDATE {{p}}lease_waiters SET expires_at = {MY_NOW} + %s
        WHERE name = %s AND ticket = %s""",
    "DEQUEUE": "DELETE FROM {p}lease_waiters WHERE name = %s AND ticket = %s",
}


class _Table:
    """The statements with the prefix filled in, and the table made once per process."""

    def __init__(self, statements: dict[str, str], prefix: str) -> None:
        self.sql = {k: v.replace("{p}", prefix) for k, v in statements.items()}
        self._made = False
        self._lock = asyncio.Lock()

    async def ensure(self, create: Callable[[str], Any]) -> None:
        if self._made:
            return
        async with self._lock:
            if not self._made:
                await create(self.sql["CREATE"])
                self._made = True


class PostgresLeases:
    """The lease port on a Postgres store (`conn()`: its pooled connection, errors mapped)."""

    def __init__(self, conn: Callable[[], AbstractAsyncContextManager[Any]], prefix: str) -> None:
        self._conn = conn
        self._table = _Table(PG, prefix)
        self._queue = _Table(PG_QUEUE, prefix)
        self._releases: Grouped[tuple[str, int], bool] = Grouped(self._release_all)

    async def _fetchrow(self, name: str, *args: Any) -> Any:
        async with self._conn() as conn:
            if not self._table._made:
                await self._table.ensure(_pg_create(conn))
            return await conn.fetchrow(self._table.sql[name], *args)

    async def acquire(self, name: str, holder: str, *, ttl: float) -> Lease | None:
        row = await self._fetchrow("ACQUIRE", name, holder, float(ttl))
        return None if row is None else Lease(name=name, holder=holder, token=row[0], ttl=ttl)

    async def renew(self, lease: Lease, *, ttl: float | None = None) -> Lease | None:
        seconds = lease.ttl if ttl is None else ttl
        row = await self._fetchrow("RENEW", lease.name, lease.token, float(seconds))
        if row is None:
            return None
        return Lease(
            name=lease.name, holder=lease.holder, token=lease.token, ttl=seconds, interrupt=row[0]
        )

    async def release(self, lease: Lease) -> bool:
        """Releases made while one is in flight go together in the next statement (runs
        ending together: backends/common/grouped.py)."""
        return await self._releases.submit((lease.name, lease.token))

    async def _release_all(self, leases: list[tuple[str, int]]) -> list[bool]:
        if len(leases) == 1:
            return [await self._fetchrow("RELEASE", *leases[0]) is not None]
        async with self._conn() as conn:
            if not self._table._made:
                await self._table.ensure(_pg_create(conn))
            rows = await conn.fetch(
                self._table.sql["RELEASE_MANY"], [n for n, _ in leases], [t for _, t in leases]
            )
        released = {(row[0], row[1]) for row in rows}
        return [lease in released for lease in leases]

    async def current(self, name: str) -> Lease | None:
        row = await self._fetchrow("CURRENT", name)
        if row is None:
            return None
        return Lease(name=name, holder=row[0], token=row[1], ttl=row[2], interrupt=row[3])

    async def interrupt(self, name: str, reason: str) -> bool:
        return await self._fetchrow("INTERRUPT", name, reason) is not None

    # ---- the waiters' queue (LeaseQueue) ---------------------------------------------------

    async def _queued(self, name: str, *args: Any) -> Any:
        queue = self._queue
        async with self._conn() as conn:
            if not self._table._made:
                await self._table.ensure(_pg_create(conn))
            if not queue._made:
                await queue.ensure(_pg_create(conn))
            return await conn.fetchrow(queue.sql[name], *args)

    async def enqueue(self, name: str, holder: str, *, ttl: float) -> int:
        row = await self._queued("ENQUEUE", name, holder, float(ttl))
        return int(row[0])

    async def acquire_queued(
        self, name: str, holder: str, *, ttl: float, ticket: int | None
    ) -> Lease | None:
        if ticket is None:
            row = await self._queued("ACQUIRE_FIRST", name, holder, float(ttl))
        else:
            row = await self._queued("ACQUIRE", name, holder, float(ttl), ticket)
        return None if row is None else Lease(name=name, holder=holder, token=row[0], ttl=ttl)

    async def touch(self, name: str, ticket: int, *, ttl: float) -> None:
        await self._queued("TOUCH", name, ticket, float(ttl))

    async def dequeue(self, name: str, ticket: int) -> None:
        await self._queued("DEQUEUE", name, ticket)


def _pg_create(conn: Any) -> Callable[[str], Any]:
    async def create(statement: str) -> None:
        # two processes creating the table at once: one waits for the other's transaction
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('agenthost leases'))")
            await conn.execute(statement)

    return create


class MySQLLeases:
    """The lease port on a MySQL/MariaDB store (`cursor()`: an autocommit cursor)."""

    def __init__(self, cursor: Callable[[], AbstractAsyncContextManager[Any]], prefix: str) -> None:
        self._cursor = cursor
        self._table = _Table(MYSQL, prefix)
        self._queue = _Table(MYSQL_QUEUE, prefix).sql

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[Any]:
        """A cursor of the store, the leases table made first."""
        async with self._cursor() as cur:
            if not self._table._made:

                async def create(statement: str) -> None:
                    await cur.execute(statement)

                await self._table.ensure(create)
            yield cur

    async def acquire(self, name: str, holder: str, *, ttl: float) -> Lease | None:
        sql = self._table.sql
        async with self._open() as cur:
            await cur.execute(sql["INSERT"], (name,))
            await cur.execute(sql["ACQUIRE"], (holder, float(ttl), name))
            return await self._taken(cur, name, holder, ttl)

    async def _taken(self, cur: Any, name: str, holder: str, ttl: float) -> Lease | None:
        """The lease the conditional UPDATE just on `cur` gave `holder`, if it did."""
        if cur.rowcount != 1:
            return None
        await cur.execute(self._table.sql["TOKEN"], (name, holder))
        row = await cur.fetchone()
        return None if row is None else Lease(name=name, holder=holder, token=row[0], ttl=ttl)

    async def renew(self, lease: Lease, *, ttl: float | None = None) -> Lease | None:
        seconds = lease.ttl if ttl is None else ttl
        sql = self._table.sql
        async with self._open() as cur:
            await cur.execute(sql["RENEW"], (float(seconds), lease.name, lease.token))
            if cur.rowcount != 1:
                # MySQL counts only changed rows: a renewal within the same microsecond is 0
                await cur.execute(sql["CURRENT"], (lease.name,))
                row = await cur.fetchone()
                if row is None or row[1] != lease.token:
                    return None
                reason = row[3]
            else:
                await cur.execute(sql["INTERRUPT_OF"], (lease.name, lease.token))
                row = await cur.fetchone()
                reason = row[0] if row is not None else None
        return Lease(
            name=lease.name, holder=lease.holder, token=lease.token, ttl=seconds, interrupt=reason
        )

    async def release(self, lease: Lease) -> bool:
        async with self._open() as cur:
            await cur.execute(self._table.sql["RELEASE"], (lease.name, lease.token))
            return bool(cur.rowcount == 1)

    async def current(self, name: str) -> Lease | None:
        async with self._open() as cur:
            await cur.execute(self._table.sql["CURRENT"], (name,))
            row = await cur.fetchone()
        if row is None:
            return None
        return Lease(name=name, holder=row[0], token=row[1], ttl=float(row[2]), interrupt=row[3])

    async def interrupt(self, name: str, reason: str) -> bool:
        async with self._open() as cur:
            await cur.execute(self._table.sql["INTERRUPT"], (reason, name))
            return bool(cur.rowcount == 1)

    # ---- the waiters' queue (LeaseQueue) ---------------------------------------------------

    async def enqueue(self, name: str, holder: str, *, ttl: float) -> int:
        async with self._open() as cur:
            await cur.execute(self._queue["GONE"], (name,))
            await cur.execute(self._queue["ENQUEUE"], (name, holder, float(ttl)))
            return int(cur.lastrowid)

    async def acquire_queued(
        self, name: str, holder: str, *, ttl: float, ticket: int | None
    ) -> Lease | None:
        queue = self._queue
        async with self._open() as cur:
            await cur.execute(self._table.sql["INSERT"], (name,))
            await cur.execute(queue["ACQUIRE"], (holder, float(ttl), name, name, ticket, ticket))
            lease = await self._taken(cur, name, holder, ttl)
            if ticket is not None:
                if lease is not None:
                    await cur.execute(queue["DEQUEUE"], (name, ticket))  # served
                else:
                    await cur.execute(queue["TOUCH"], (float(ttl), name, ticket))  # still waiting
        return lease

    async def touch(self, name: str, ticket: int, *, ttl: float) -> None:
        async with self._open() as cur:
            await cur.execute(self._queue["TOUCH"], (float(ttl), name, ticket))

    async def dequeue(self, name: str, ticket: int) -> None:
        async with self._open() as cur:
            await cur.execute(self._queue["DEQUEUE"], (name, ticket))
