"""Where an agenthost turn spends its time: cProfile, and the session store's share.

    .venv/bin/python -m benchmarks.profile_turn [--store memory|sqlite] [--stream] [--bare]
        [--turns 2000] [--history 0] [--top 40] [--sort tottime|cumtime]

The fake server runs in another process (0 ms). After a warm-up, `turns` turns run under
cProfile; the table gives, per function, µs per turn (own time = tottime, and cumulative)
and calls per turn. cProfile inflates small functions, so two numbers are also measured
without it: the turn itself, and the time spent inside the store's methods (each call timed
with perf_counter), which is what a store costs a turn.

`--history N`: all turns go to one session that already holds N turns (instead of a new
session per turn). `--bare`: profile the bare aiohttp loop the same way, for comparison.
A coroutine or generator counts one call per resumption in the calls column.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from agenthost.engine.runner import Runner
from agenthost.testing.fake_openai import FakeOpenAIServer
from benchmarks import bare_loops
from benchmarks._agent import agent_turn, open_runner
from benchmarks.turn import store_url

STORE_METHODS = ("get", "create", "append")


def _instrument(runner: Runner) -> dict[str, list[float]]:
    """Wrap the runner's store methods to add up their wall time (seconds, calls)."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    store = runner.store
    for name in STORE_METHODS:
        original = getattr(store, name)

        def timed(
            *args: Any, _name: str = name, _fn: Callable[..., Any] = original, **kwargs: Any
        ) -> Coroutine[Any, Any, Any]:
            async def call() -> Any:
                start = time.perf_counter()
                try:
                    return await _fn(*args, **kwargs)
                finally:
                    entry = spent[_name]
                    entry[0] += time.perf_counter() - start
                    entry[1] += 1

            return call()

        setattr(store, name, timed)
    return spent


async def _session(runner: Runner, history: int) -> str | None:
    if history <= 0:
        return None
    sid = await agent_turn(runner)
    for _ in range(history - 1):
        await agent_turn(runner, session_id=sid)
    return sid


async def profile(
    base_url: str, url: str, *, stream: bool, turns: int, history: int
) -> tuple[pstats.Stats, float, dict[str, list[float]], float]:
    async with open_runner(base_url, url, stream=stream) as runner:
        for _ in range(200):
            await agent_turn(runner)
        sid = await _session(runner, history)
        start = time.perf_counter()
        for _ in range(turns):
            await agent_turn(runner, session_id=sid)
        plain = (time.perf_counter() - start) / turns
        spent = _instrument(runner)
        start = time.perf_counter()
        for _ in range(turns):
            await agent_turn(runner, session_id=sid)
        instrumented = (time.perf_counter() - start) / turns
        spent = {name: list(entry) for name, entry in spent.items()}
        for name in STORE_METHODS:  # profile the store as it is, not our wrappers
            delattr(runner.store, name)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(turns):
            await agent_turn(runner, session_id=sid)
        profiler.disable()
    return pstats.Stats(profiler), plain, spent, instrumented


async def profile_bare(base_url: str, *, stream: bool, turns: int) -> tuple[pstats.Stats, float]:
    client, _ = bare_loops.open_client("aiohttp")
    async with client as opened:
        complete = bare_loops.completer("aiohttp", opened, base_url, stream=stream)
        for _ in range(200):
            await bare_loops.turn(complete, [])
        start = time.perf_counter()
        for _ in range(turns):
            await bare_loops.turn(complete, [])
        plain = (time.perf_counter() - start) / turns
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(turns):
            await bare_loops.turn(complete, [])
        profiler.disable()
    return pstats.Stats(profiler), plain


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})" if line else name


def _area(filename: str) -> str:
    if "/agenthost/" in filename:
        parts = filename.split("/agenthost/", 1)[1].split("/")
        return "agenthost/" + "/".join(parts[:-1] or parts)
    for name in ("aiohttp", "asyncio", "multidict", "yarl", "benchmarks"):
        if f"/{name}/" in filename:
            return name
    return "C functions (sockets, epoll, orjson, msgspec, ...)" if filename == "~" else "other"


def report(stats: pstats.Stats, turns: int, *, top: int, sort: str) -> None:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for key, (_cc, ncalls, tottime, cumtime, _callers) in table.items():
        rows.append((tottime, cumtime, ncalls, key))
    total = sum(r[0] for r in rows)
    index = 0 if sort == "tottime" else 1
    rows.sort(key=lambda r: r[index], reverse=True)
    print(f"under cProfile: {total / turns * 1e6:.0f} µs per turn in total; own time by area:")
    areas: dict[str, float] = defaultdict(float)
    for tottime, _cum, _n, key in rows:
        areas[_area(key[0])] += tottime
    for area, seconds in sorted(areas.items(), key=lambda a: -a[1]):
        print(f"  {seconds / turns * 1e6:8.1f} µs  {area}")
    print(f"{'own µs/turn':>11} {'cum µs/turn':>11} {'calls/turn':>10}  function")
    for tottime, cumtime, ncalls, key in rows[:top]:
        own, cum, calls = tottime / turns * 1e6, cumtime / turns * 1e6, ncalls / turns
        print(f"{own:11.1f} {cum:11.1f} {calls:10.1f}  {_where(key)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--bare", action="store_true", help="profile the bare aiohttp loop")
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--history", type=int, default=0)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", choices=("tottime", "cumtime"), default="tottime")
    args = parser.parse_args(argv)
    n = args.turns
    with (
        FakeOpenAIServer.start_in_process(latency=0.0) as server,
        tempfile.TemporaryDirectory(prefix="agenthost-profile-") as tmp,
    ):
        if args.bare:
            stats, plain = asyncio.run(profile_bare(server.base_url, stream=args.stream, turns=n))
            print(f"bare aiohttp loop, stream={args.stream}, {n} turns")
            print(f"turn without profiler: {plain * 1e6:.0f} µs")
            report(stats, n, top=args.top, sort=args.sort)
            return
        url = store_url(args.store, Path(tmp), "profile")
        stats, plain, spent, instrumented = asyncio.run(
            profile(server.base_url, url, stream=args.stream, turns=n, history=args.history)
        )
    print(f"store {args.store}, stream={args.stream}, history {args.history} turns, {n} turns")
    print(
        f"turn without profiler: {plain * 1e6:.0f} µs (timing the store: {instrumented * 1e6:.0f})"
    )
    for name in STORE_METHODS:
        seconds, calls = spent.get(name, [0.0, 0.0])
        print(f"  store.{name:<7} {seconds / n * 1e6:7.1f} µs per turn ({calls / n:.1f} calls)")
    report(stats, n, top=args.top, sort=args.sort)


if __name__ == "__main__":
    main()
