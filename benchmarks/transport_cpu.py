"""CPU per turn over each HTTP transport of the model client, in one process, alternating.

    PYTHONPATH=src:. .venv/bin/python -m benchmarks.transport_cpu [--turns 1000] [--rounds 3]

The fake server runs in another process (0 ms). Each round measures, one after the other, the
process's CPU time per turn (`time.process_time`) of: the bare aiohttp loop; the model client
alone (`model_turn`: two calls and the tool, no runner) over transport "aiohttp" and "lean";
and full turns (Runner + LLMAgent, memory and SQLite stores, plain and streamed) over both.
Alternating the variants within a round, and keeping each one's least CPU over the rounds,
makes the comparison fair on a machine other jobs share (see docs/benchmarks.md, "The model
calls' own HTTP client").
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable

from agenthost.backends.common.transport import TransportKind
from agenthost.testing.fake_openai import FakeOpenAIServer
from benchmarks import bare_loops
from benchmarks._agent import agent_turn, make_model, model_turn, open_runner

Turn = Callable[[], Awaitable[object]]
TRANSPORTS: tuple[TransportKind, ...] = ("aiohttp", "lean")


async def _cpu(turn: Turn, turns: int) -> float:
    """µs of process CPU per turn, after a warm-up."""
    for _ in range(max(turns // 10, 50)):
        await turn()
    start = time.process_time()
    for _ in range(turns):
        await turn()
    return (time.process_time() - start) / turns * 1e6


async def bare(base_url: str, turns: int) -> float:
    client, _ = bare_loops.open_client("aiohttp")
    async with client as opened:
        complete = bare_loops.completer("aiohttp", opened, base_url, stream=False)
        return await _cpu(lambda: bare_loops.turn(complete, []), turns)


async def model_only(base_url: str, transport: TransportKind, turns: int) -> float:
    async with make_model(base_url, transport) as model:
        return await _cpu(lambda: model_turn(model), turns)


async def full(
    base_url: str, store_url: str, transport: TransportKind, *, stream: bool, turns: int
) -> float:
    async with open_runner(base_url, store_url, stream=stream, transport=transport) as runner:
        return await _cpu(lambda: agent_turn(runner), turns)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best: dict[str, float] = {}

    def keep(name: str, value: float) -> None:
        best[name] = min(best.get(name, float("inf")), value)

    with (
        FakeOpenAIServer.start_in_process(latency=0.0) as server,
        tempfile.TemporaryDirectory(prefix="agenthost-transport-") as tmp,
    ):
        url = server.base_url
        for round_ in range(args.rounds):
            keep("bare aiohttp loop", asyncio.run(bare(url, args.turns)))
            for kind in TRANSPORTS:
                keep(f"model client only, {kind}", asyncio.run(model_only(url, kind, args.turns)))
            for store in ("memory", "sqlite"):
                for stream in (False, True):
                    for kind in TRANSPORTS:
                        db = (
                            "memory://"
                            if store == "memory"
                            else f"sqlite:///{tmp}/{round_}{kind}{stream}.db"
                        )
                        name = f"turn, {store}{', streamed' if stream else ''}, {kind}"
                        keep(
                            name, asyncio.run(full(url, db, kind, stream=stream, turns=args.turns))
                        )
    base = best["bare aiohttp loop"]
    for name, cpu in best.items():
        print(f"{name:<36} cpu {cpu:7.0f} µs per turn  ({cpu / base:.2f}x the bare loop)")


if __name__ == "__main__":
    main()
