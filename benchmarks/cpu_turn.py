"""CPU time per turn, for comparing two checkouts on a busy machine.

    PYTHONPATH=src:. .venv/bin/python -m benchmarks.cpu_turn [--turns 300] [--reps 3]

Wall-clock ratios are unreliable when other processes share the cores; the process's own CPU
time per turn (`time.process_time`, the fake server runs in another process) is steadier.
Run it alternately on the two checkouts and compare. Prints one line per variant: wall and
CPU µs per turn (each the minimum over the repetitions), the CPU above the bare loop's, and
the cyclic garbage collector's share of the CPU (its own thread time, from `gc.callbacks`, in
the repetition with the least CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from collections.abc import Awaitable, Callable

from agenthost.testing.fake_openai import FakeOpenAIServer
from benchmarks import bare_loops
from benchmarks._agent import agent_turn, open_runner
from benchmarks._common import GCTime

Turn = Callable[[], Awaitable[object]]


async def _best(turn: Turn, turns: int, reps: int) -> tuple[float, float, float]:
    wall = cpu = float("inf")
    in_gc = 0.0
    for _ in range(reps):
        spent = GCTime()
        gc.callbacks.append(spent)
        try:
            w, c = time.perf_counter(), time.process_time()
            for _ in range(turns):
                await turn()
            this_wall = (time.perf_counter() - w) / turns * 1e6
            this_cpu = (time.process_time() - c) / turns * 1e6
        finally:
            gc.callbacks.remove(spent)
        wall = min(wall, this_wall)
        if this_cpu < cpu:
            cpu, in_gc = this_cpu, spent.seconds / turns * 1e6
    return wall, cpu, in_gc


async def agenthost(
    base_url: str, url: str, *, stream: bool, history: int, turns: int, reps: int
) -> tuple[float, float, float]:
    async with open_runner(base_url, url, stream=stream) as runner:
        for _ in range(100):
            await agent_turn(runner)
        sid = None
        for _ in range(history):
            sid = await agent_turn(runner, session_id=sid)
        return await _best(lambda: agent_turn(runner, session_id=sid), turns, reps)


async def bare(
    base_url: str, *, stream: bool, history: int, turns: int, reps: int
) -> tuple[float, float, float]:
    """The bare loop; with `history`, its one conversation grows as agenthost's session does."""
    client, _ = bare_loops.open_client("aiohttp")
    async with client as opened:
        complete = bare_loops.completer("aiohttp", opened, base_url, stream=stream)
        for _ in range(100):
            await bare_loops.turn(complete, [])
        messages: list[dict[str, object]] = []
        for _ in range(history):
            await bare_loops.turn(complete, messages)
        return await _best(
            lambda: bare_loops.turn(complete, messages if history else []), turns, reps
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--history", type=int, default=150, help="turns of history (0: skip)")
    args = parser.parse_args()
    n, reps = args.turns, args.reps
    with (
        FakeOpenAIServer.start_in_process(latency=0.0) as server,
        tempfile.TemporaryDirectory(prefix="agenthost-cpu-") as tmp,
    ):
        rows: list[tuple[str, float, float, float, float]] = []
        for stream in (False, True):
            suffix = " stream" if stream else ""
            base = asyncio.run(bare(server.base_url, stream=stream, history=0, turns=n, reps=reps))
            rows.append((f"bare aiohttp{suffix}", *base, base[1]))
            for store in ("memory", "sqlite"):
                url = "memory://" if store == "memory" else f"sqlite:///{tmp}/{store}{stream}.db"
                got = asyncio.run(
                    agenthost(server.base_url, url, stream=stream, history=0, turns=n, reps=reps)
                )
                rows.append((f"agenthost {store}{suffix}", *got, base[1]))
        if args.history:  # few timed turns: the conversation grows by one turn each
            h, few = args.history, max(n // 10, 1)
            base = asyncio.run(bare(server.base_url, stream=False, history=h, turns=few, reps=reps))
            rows.append((f"bare aiohttp, {h} turns", *base, base[1]))
            for store in ("memory", "sqlite"):
                url = "memory://" if store == "memory" else f"sqlite:///{tmp}/history.db"
                got = asyncio.run(
                    agenthost(server.base_url, url, stream=False, history=h, turns=few, reps=reps)
                )
                rows.append((f"agenthost {store}, {h} turns", *got, base[1]))
    for name, wall, cpu, in_gc, base_cpu in rows:
        own = cpu - base_cpu
        print(
            f"{name:<30} wall {wall:8.0f} µs  cpu {cpu:7.0f} µs  own cpu {own:6.0f} µs  "
            f"gc {in_gc:5.1f} µs"
        )


if __name__ == "__main__":
    main()
