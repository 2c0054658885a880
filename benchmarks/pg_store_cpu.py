"""Postgres backend CPU per run of the store's statements alone, without a server.

    python -m benchmarks.pg_store_cpu [--runs 1500] [--src path/to/src]

The Postgres session store on a pool of one connection (a fresh table prefix in the test
database, migrated, never analyzed: a deployment's first minute) makes what a run makes of
it, on a new session each time: the lease acquire (queued, no ticket), `create_with_events`
with the user's message, a fenced append of three events, the lease release. Printed: the
CPU of that connection's backend (/proc, utime + stime) per run after 50 warm-up runs.
Postgres must be on this machine. `--src` runs another checkout's code (a child process
with that `PYTHONPATH`), e.g. main's, to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from benchmarks.load import ROOT, _postgres_base, _ticks, run_async


async def measure(runs: int) -> float:
    """Backend CPU ms per run (see the module doc)."""
    from agenthost.backends.sessions import open_session_store
    from agenthost.core.events import Event, EventType
    from agenthost.core.ids import new_id
    from agenthost.core.session import SessionKey

    def event(kind: EventType) -> Event:
        return Event(id=new_id(), run_id="r", author="agent", type=kind)

    prefix = f"cpu{uuid.uuid4().hex[:8]}_"
    url = f"{_postgres_base()}?table_prefix={prefix}&migrate=true&pool_size=1"  # one backend
    store: Any = open_session_store(url)
    try:
        async with store:
            leases = store.leases()
            async with store._pool.acquire() as conn:
                pid = int(await conn.fetchval("SELECT pg_backend_pid()"))

            async def run(i: int) -> None:
                lease = await leases.acquire_queued(f"l{i}", "h", ttl=30.0, ticket=None)
                key = SessionKey("app", "u", f"s{i}")
                session = await store.create_with_events(key, [event("message.received")])
                answer = [event("run.started"), event("message.completed"), event("run.completed")]
                await store.append(session, answer, fence=lease)
                await leases.release(lease)

            for i in range(50):
                await run(-1 - i)
            first = _ticks(pid)
            for i in range(runs):
                await run(i)
            ticks = _ticks(pid) - first
    finally:
        await store.drop_tables()
    return 1000 * ticks / os.sysconf("SC_CLK_TCK") / runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=1500)
    parser.add_argument("--src", type=Path, default=None, help="the code to measure")
    args = parser.parse_args(argv)
    if args.src is not None:
        env = dict(os.environ, PYTHONPATH=f"{args.src}{os.pathsep}{ROOT}")
        cmd = [sys.executable, "-m", "benchmarks.pg_store_cpu", "--runs", str(args.runs)]
        return subprocess.call(cmd, env=env, cwd=ROOT)
    ms = run_async(asyncio.wait_for(measure(args.runs), 600))
    print(f"Postgres backend CPU {ms:.3f} ms per run ({args.runs} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
