"""The statements (and round trips) one run sends to Postgres, each counted.

    python -m benchmarks.pg_statements [--runs 300] [--clients 2] [--src path/to/src]

One real `agenthost serve` replica (the config of benchmarks/load.py: session store, leases
and usage store on Postgres, the fake model) on a database of its own (`agenthost_rt`, as
benchmarks/pg_roundtrips.py), a new session per run. Counted twice where possible:

- on the client, always: the replica's asyncpg connections count every statement by its text
  (benchmarks/_pg_count_hook.py, the replica's `sitecustomize`) and every prepare (a statement
  not yet prepared on that connection: one more round trip);
- by the server, when `pg_stat_statements` is loaded (`shared_preload_libraries`) and created
  in the database: its `calls` per statement of the replica's database.

Both are taken after a warm-up run per client (connections made, statements prepared) and
after the runs; the difference over the runs is per run. No ANALYZE: the store's statements
are planned right without statistics (tests/contract/test_session_plans.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks._load_client import Client, request_bytes
from benchmarks.load import (
    ROOT,
    _ready,
    run_async,
)
from benchmarks.pg_roundtrips import DATABASE, _admin, _replica, replica_setup

HOOK = Path(__file__).with_name("_pg_count_hook.py")


def _counted_replica(config: Path, src: Path, tmp: Path, prefix: str) -> Any:
    """A replica (pg_roundtrips.py) with the counting hook as its sitecustomize."""
    hooks = tmp / "hooks"
    hooks.mkdir()
    shutil.copy(HOOK, hooks / "sitecustomize.py")
    counts = str(tmp / "counts.json")
    return _replica(
        config,
        src,
        tmp,
        PYTHONPATH=str(hooks),
        AGENTHOST_PG_COUNT=counts,
        AGENTHOST_PG_PREFIX=prefix,
    )


def _ask(out: Path) -> None:
    out.unlink(missing_ok=True)
    Path(f"{out}.ask").touch()


def _answer(out: Path) -> dict[str, Any] | None:
    if not out.exists():
        return None
    counts: dict[str, Any] = json.loads(out.read_text())
    return counts


async def _client_counts(tmp: Path) -> dict[str, Any]:
    """The replica's counts so far (its hook answers within a few tens of ms)."""
    out = tmp / "counts.json"
    _ask(out)
    deadline = time.monotonic() + 30
    while (counts := _answer(out)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the replica's statement counter did not answer")
        await asyncio.sleep(0.02)
    return counts


async def _server_counts(prefix: str) -> dict[str, int] | None:
    """`pg_stat_statements` calls per statement of the replica's tables (None: unavailable)."""
    import asyncpg

    try:
        rows = await _admin(
            "SELECT s.query, s.calls FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1",
            DATABASE,
        )
    except asyncpg.PostgresError:
        return None
    return {" ".join(q.split()).replace(prefix, "{p}"): int(n) for q, n in rows if prefix in q}


def _per_run(after: dict[str, int], before: dict[str, int], runs: int) -> dict[str, float]:
    diff = {k: (n - before.get(k, 0)) / runs for k, n in after.items()}
    return dict(sorted(((k, round(v, 3)) for k, v in diff.items() if v), key=lambda kv: -kv[1]))


async def measure(runs: int, clients: int, src: Path) -> dict[str, Any]:
    async with replica_setup("st") as (tmp, _, config, prefix):
        with _counted_replica(config, src, tmp, prefix) as replica:
            await _ready(replica, time.monotonic() + 60)
            request = request_bytes("helper")
            pool = [Client([("127.0.0.1", replica.port)], request) for _ in range(clients)]
            try:
                await asyncio.gather(*(c.run(0) for c in pool))  # connections, prepares
                client_before = await _client_counts(tmp)
                server_before = await _server_counts(prefix)
                left = [runs]

                async def drive(client: Client) -> None:
                    while left[0] > 0:
                        left[0] -= 1
                        if not (await client.run(0)).completed:
                            raise RuntimeError("a run did not complete")

                await asyncio.gather(*(drive(c) for c in pool))
                client_after = await _client_counts(tmp)
                server_after = await _server_counts(prefix)
            finally:
                for client in pool:
                    client.close()
    statements = _per_run(client_after["statements"], client_before["statements"], runs)
    prepares = (client_after["prepares"] - client_before["prepares"]) / runs
    total = sum(statements.values())
    result: dict[str, Any] = {
        "src": str(src),
        "runs": runs,
        "clients": clients,
        "statements_per_run": round(total, 2),
        "round_trips_per_run": round(total + prepares, 2),
        "prepares_per_run": round(prepares, 3),
        "client_counts": statements,
    }
    if server_before is not None and server_after is not None:
        server = _per_run(server_after, server_before, runs)
        result["pg_stat_statements"] = server
        result["server_statements_per_run"] = round(sum(server.values()), 2)
    else:
        result["pg_stat_statements"] = "not available (not in shared_preload_libraries)"
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"{result['runs']} runs, {result['clients']} clients, src {result['src']}")
    print(
        f"statements per run {result['statements_per_run']}, round trips per run "
        f"{result['round_trips_per_run']} (prepares {result['prepares_per_run']})"
    )
    for text, per_run in result["client_counts"].items():
        print(f"  {per_run:6.2f}  {text[:110]}")
    server = result["pg_stat_statements"]
    if isinstance(server, dict):
        print(f"pg_stat_statements: {result['server_statements_per_run']} statements per run")
        for text, per_run in server.items():
            print(f"  {per_run:6.2f}  {text[:110]}")
    else:
        print(f"pg_stat_statements: {server}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the code the replica runs")
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)
    result = run_async(asyncio.wait_for(measure(args.runs, args.clients, args.src), 600))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
