"""Postgres driver benchmark: asyncpg vs psycopg 3 on the session store's write.

    python benchmarks/pg_drivers.py [--url postgresql://postgres@127.0.0.1:5432/test] [-n 2000]

Each step appends a batch of 3 events (~400-byte blobs) and updates the session row (its
`last_seq`, `updated_at` and a JSONB state merge), in one transaction, N times, on one
connection, in the same invocation for every variant (compare the ratios, not the absolute
numbers: the machine is shared). Variants:

- `*_cte`: ONE statement (a data-modifying CTE: UPDATE ... RETURNING the old last_seq, INSERT
  the events from arrays numbered after it): one round trip, and the row lock of the UPDATE
  makes the seq assignment atomic across processes. This is what postgres.py does.
- `*_tx`: the classic transaction (BEGIN; SELECT ... FOR UPDATE; executemany INSERT; UPDATE;
  COMMIT): four to five round trips.
- `psycopg_pipeline_tx`: the same transaction sent in psycopg's pipeline mode (fewer waits,
  but the SELECT still has to come back before the INSERT can be numbered).

Tables are created under a unique prefix and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

BLOB = b'{"type":"message.completed","message":{"parts":[{"text":"' + b"x" * 360 + b'"}]}}'


def _schema(p: str) -> list[str]:
    return [
        f"CREATE TABLE {p}sessions (k text PRIMARY KEY, last_seq bigint NOT NULL, "
        "updated_at double precision NOT NULL, state jsonb NOT NULL)",
        f"CREATE TABLE {p}events (k text NOT NULL, seq bigint NOT NULL, data bytea NOT NULL, "
        "PRIMARY KEY (k, seq))",
        f"INSERT INTO {p}sessions VALUES ('s', 0, 0, '{{}}')",
    ]


def _cte(p: str, ph: Callable[[int], str]) -> str:
    return (
        f"WITH s AS (UPDATE {p}sessions SET last_seq = last_seq + {ph(1)}, "
        f"updated_at = {ph(2)}, state = state || {ph(3)}::jsonb WHERE k = 's' "
        "RETURNING last_seq - " + ph(1) + " AS base) "
        f"INSERT INTO {p}events (k, seq, data) SELECT 's', s.base + d.n, d.data "
        f"FROM s, unnest({ph(4)}::bytea[]) WITH ORDINALITY AS d(data, n)"
    )


async def _asyncpg(url: str, p: str, n: int) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        cte = _cte(p, lambda i: f"${i}")
        insert = f"INSERT INTO {p}events (k, seq, data) VALUES ('s', $1, $2)"
        update = f"UPDATE {p}sessions SET last_seq = $1, updated_at = $2 WHERE k = 's'"
        select = f"SELECT last_seq FROM {p}sessions WHERE k = 's' FOR UPDATE"

        async def one_cte() -> None:
            await conn.execute(cte, 3, time.time(), '{"step": 1}', [BLOB] * 3)

        async def one_tx() -> None:
            async with conn.transaction():
                base = await conn.fetchval(select)
                await conn.executemany(insert, [(base + i, BLOB) for i in (1, 2, 3)])
                await conn.execute(update, base + 3, time.time())

        return {
            "asyncpg_cte": await _time(one_cte, n),
            "asyncpg_tx": await _time(one_tx, n),
        }
    finally:
        await conn.close()


async def _psycopg(url: str, p: str, n: int) -> dict[str, float]:
    import psycopg

    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=0)
    try:
        cte = _cte(p, lambda i: ("%(n)s", "%(t)s", "%(st)s", "%(d)s")[i - 1])
        insert = f"INSERT INTO {p}events (k, seq, data) VALUES ('s', %s, %s)"
        update = f"UPDATE {p}sessions SET last_seq = %s, updated_at = %s WHERE k = 's'"
        select = f"SELECT last_seq FROM {p}sessions WHERE k = 's' FOR UPDATE"

        async def one_cte() -> None:
            args = {"n": 3, "t": time.time(), "st": '{"step": 1}', "d": [BLOB] * 3}
            await conn.execute(cte, args)

        async def one_tx() -> None:
            async with conn.transaction():
                cur = await conn.execute(select)
                row = await cur.fetchone()
                assert row is not None
                base = row[0]
                async with conn.cursor() as c:
                    await c.executemany(insert, [(base + i, BLOB) for i in (1, 2, 3)])
                await conn.execute(update, (base + 3, time.time()))

        async def one_pipeline() -> None:
            async with conn.pipeline(), conn.transaction():
                cur = await conn.execute(select)
                row = await cur.fetchone()
                assert row is not None
                base = row[0]
                async with conn.cursor() as c:
                    await c.executemany(insert, [(base + i, BLOB) for i in (1, 2, 3)])
                await conn.execute(update, (base + 3, time.time()))

        return {
            "psycopg_cte": await _time(one_cte, n),
            "psycopg_tx": await _time(one_tx, n),
            "psycopg_pipeline_tx": await _time(one_pipeline, n),
        }
    finally:
        await conn.close()


async def _time(step: Callable[[], Awaitable[None]], n: int) -> float:
    """Median µs of `step` over n calls (after 50 warm-up calls)."""
    for _ in range(50):
        await step()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


async def run(url: str, n: int) -> dict[str, Any]:
    import asyncpg

    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    admin = await asyncpg.connect(url)
    try:
        results: dict[str, float] = {}
        for driver in (_asyncpg, _psycopg):
            for statement in _schema(prefix):
                await admin.execute(statement)
            try:
                results.update(await driver(url, prefix, n))
            finally:
                await admin.execute(f"DROP TABLE {prefix}events, {prefix}sessions")
        return {"n": n, "median_us": {k: round(v, 1) for k, v in results.items()}}
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = os.environ.get(
        "AGENTHOST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--url", default=default)
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.n))
    for name, us in result["median_us"].items():
        print(f"{name:22} {us:8.1f} µs/append (median of {result['n']})")


if __name__ == "__main__":
    main()
