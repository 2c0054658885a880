"""Postgres backend CPU per run of the store's statements alone, without a server.

    python -m benchmarks.pg_store_cpu [--runs 1500] [--src path/to/src]

The Postgres session store on a pool of one connection (a fresh table prefix in the test
database, migrated, never analyzed: a deployment's first minute) makes what a run makes of
it, on a new session each time: the lease acquire (queued, no ticket), `create_with_events`
with the user's message, a fenced append of three events, the lease release. Printed: the
CPU of that connection's backend (/proc, utime + stime) per run after 50 warm-up runs.
Postgres must be on this machine. `--src` runs another checkout's code (a child process
with that `PYTHONPATH`), e.g. main's, to compare.

    python -m benchmarks.pg_store_cpu --compare plan_cache_mode=auto \
        plan_cache_mode=force_generic_plan

compares store URL settings (query parameters; asyncpg passes unknown ones to the server as
settings of the connection): one store per setting, each on its own backend, the runs
interleaved one by one (store A's run, store B's, ...) so that the machine's other load
weighs on every setting alike; the CPU of each backend per run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.load import ROOT, _postgres_base, _ticks, run_async


async def measure(runs: int, settings: Sequence[str] = ("",)) -> list[float]:
    """Backend CPU ms per run for each store URL setting (see the module doc)."""
    from agenthost.backends.sessions import open_session_store
    from agenthost.core.events import Event, EventType
    from agenthost.core.ids import new_id
    from agenthost.core.session import SessionKey

    def event(kind: EventType) -> Event:
        return Event(id=new_id(), run_id="r", author="agent", type=kind)

    async def run(store: Any, i: int) -> None:
        leases = store.leases()
        lease = await leases.acquire_queued(f"l{i}", "h", ttl=30.0, ticket=None)
        key = SessionKey("app", "u", f"s{i}")
        session = await store.create_with_events(key, [event("message.received")])
        answer = [event("run.started"), event("message.completed"), event("run.completed")]
        await store.append(session, answer, fence=lease)
        await leases.release(lease)

    stores: list[Any] = []
    pids: list[int] = []
    try:
        for setting in settings:
            prefix = f"cpu{uuid.uuid4().hex[:8]}_"
            url = (
                f"{_postgres_base()}?table_prefix={prefix}&migrate=true&pool_size=1"  # one backend
            )
            store: Any = open_session_store(url + (f"&{setting}" if setting else ""))
            stores.append(store)
            await store.open()
            async with store._pool.acquire() as conn:
                pids.append(int(await conn.fetchval("SELECT pg_backend_pid()")))
        for i in range(50):
            for store in stores:
                await run(store, -1 - i)
        first = [_ticks(pid) for pid in pids]
        for i in range(runs):
            for store in stores:
                await run(store, i)
        ticks = [_ticks(pid) - before for pid, before in zip(pids, first, strict=True)]
    finally:
        for store in stores:
            await store.drop_tables()
            await store.aclose()
    return [1000 * t / os.sysconf("SC_CLK_TCK") / runs for t in ticks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=1500)
    parser.add_argument("--src", type=Path, default=None, help="the code to measure")
    parser.add_argument(
        "--compare", nargs="+", default=[""], help="store URL settings, e.g. plan_cache_mode=auto"
    )
    args = parser.parse_args(argv)
    if args.src is not None:
        env = dict(os.environ, PYTHONPATH=f"{args.src}{os.pathsep}{ROOT}")
        cmd = [sys.executable, "-m", "benchmarks.pg_store_cpu", "--runs", str(args.runs)]
        return subprocess.call([*cmd, "--compare", *args.compare], env=env, cwd=ROOT)
    found = run_async(asyncio.wait_for(measure(args.runs, args.compare), 600))
    for setting, ms in zip(args.compare, found, strict=True):
        label = f" with {setting}" if setting else ""
        print(f"Postgres backend CPU {ms:.3f} ms per run ({args.runs} runs){label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
