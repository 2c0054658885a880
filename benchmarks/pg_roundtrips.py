"""Postgres statements and Postgres CPU per run of one `agenthost serve` replica.

    python -m benchmarks.pg_roundtrips [--runs 400] [--clients 4] [--src path/to/src]

The replica (the config of benchmarks/load.py: session store, leases and usage store on
Postgres, the fake model) runs against a database of its own (`agenthost_rt`, made if
missing), so that the server's per-database counters count its statements only: every
statement outside an explicit transaction is one transaction (`xact_commit`) and one round
trip, and the run path has no explicit transaction (asyncpg's first use of a statement on a
connection adds one prepare, amortized over the runs). A backend's counters reach
`pg_stat_database` when it exits, so each count is the replica's whole life: one life with
`--runs` runs, one with none that lasts as long (start-up, migrations check, pollers); the
difference over the runs is the statements per run. `--src` runs another checkout's code
(`PYTHONPATH`), e.g. main's, to compare. Postgres CPU per run: the replica's backends
(`application_name`) over the runs, from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from benchmarks._load_client import Client, request_bytes
from benchmarks.load import (
    ROOT,
    Replica,
    _app_name,
    _drop_prefixed,
    _free_port,
    _postgres_base,
    _ready,
    _ticks,
    run_async,
    write_config,
)

DATABASE = "agenthost_rt"


async def _admin(sql: str, *args: Any) -> Any:
    import asyncpg

    conn = await asyncpg.connect(_postgres_base())
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _xacts() -> int:
    rows = await _admin(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", DATABASE
    )
    return int(rows[0][0]) if rows else 0


async def _backend_ticks(app: str) -> int:
    rows = await _admin(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = $2",
        app,
        DATABASE,
    )
    return sum(_ticks(int(r[0])) for r in rows)


def _url(prefix: str) -> str:
    base = _postgres_base().split("?", 1)[0].rsplit("/", 1)[0]
    return f"{base}/{DATABASE}?application_name={prefix}rt&table_prefix={prefix}&migrate=true"


@contextlib.contextmanager
def _replica(config: Path, src: Path, tmp: Path, **extra: str) -> Any:
    """A replica running `src`; `extra`: more environment (PYTHONPATH goes before `src`)."""
    port = _free_port()
    log = tmp / f"server-{port}.log"
    path = os.pathsep.join(p for p in (extra.pop("PYTHONPATH", ""), str(src)) if p)
    env = dict(os.environ, **extra, PYTHONPATH=path)
    with log.open("wb") as out:
        cmd = [sys.executable, "-m", "agenthost.cli", "serve", "--config", str(config)]
        cmd += ["--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield Replica(port, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _life(
    config: Path, url: str, src: Path, tmp: Path, runs: int, clients: int, idle: float
) -> dict[str, float]:
    """One replica's life: start, `runs` runs (or `idle` seconds of nothing), stop; the
    database's transactions over it and the backends' CPU over the runs."""
    before = await _xacts()
    ticks = 0
    started = time.perf_counter()
    with _replica(config, src, tmp) as replica:
        await _ready(replica, time.monotonic() + 60)
        request = request_bytes("helper")
        pool = [Client([("127.0.0.1", replica.port)], request) for _ in range(clients)]
        if runs:
            await asyncio.gather(*(c.run(0) for c in pool))  # connections, prepares
            app = _app_name(url) or ""
            first = await _backend_ticks(app)
            left = [runs]

            async def drive(client: Client) -> None:
                while left[0] > 0:
                    left[0] -= 1
                    run = await client.run(0)
                    if not run.completed:
                        raise RuntimeError("a run did not complete")

            await asyncio.gather(*(drive(c) for c in pool))
            ticks = await _backend_ticks(app) - first
        else:
            await asyncio.sleep(idle)
        for client in pool:
            client.close()
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)  # the exited backends' counters are flushed as they exit
    return {"xacts": await _xacts() - before, "seconds": elapsed, "ticks": ticks}


@contextlib.asynccontextmanager
async def replica_setup(tag: str) -> AsyncIterator[tuple[Path, str, Path, str]]:
    """(a temporary directory, the store URL, the replica's config, its table prefix): the
    load config on a fresh prefix of DATABASE (made if missing) and a fake model, dropped and
    stopped after."""
    from agenthost.testing.fake_openai import ProcessFakeServer

    if not await _admin("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
        await _admin(f"CREATE DATABASE {DATABASE}")
    prefix = f"{tag}{uuid.uuid4().hex[:8]}_"
    with (
        ProcessFakeServer(latency=0.0, port=0, extra_args=[]) as model,
        tempfile.TemporaryDirectory(prefix=f"agenthost-{tag}-") as name,
    ):
        tmp = Path(name)
        url = _url(prefix)
        config = write_config(tmp, url, model.base_url, "auto")
        try:
            yield tmp, url, config, prefix
        finally:
            await _drop_prefixed(url)


async def measure(runs: int, clients: int, src: Path) -> dict[str, Any]:
    hz = float(os.sysconf("SC_CLK_TCK"))
    async with replica_setup("rt") as (tmp, url, config, _):
        busy = await _life(config, url, src, tmp, runs, clients, 0.0)
        quiet = await _life(config, url, src, tmp, 0, clients, busy["seconds"])
    per_run = (busy["xacts"] - quiet["xacts"]) / (runs + clients)
    return {
        "src": str(src),
        "runs": runs,
        "clients": clients,
        "statements_per_run": round(per_run, 2),
        "postgres_cpu_ms_per_run": round(1000 * busy["ticks"] / hz / runs, 2),
        "lives": {"busy": busy, "quiet": quiet},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the code the replica runs")
    args = parser.parse_args(argv)
    result = run_async(asyncio.wait_for(measure(args.runs, args.clients, args.src), 600))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
