"""CPU per block of the deadline scopes (core/deadlines.py) against asyncio.timeout.

    PYTHONPATH=src:. python -m benchmarks.deadlines [--blocks 200000] [--reps 5] [--uvloop]

Each variant enters and leaves a scope around one `await` that suspends the task once
(`asyncio.sleep(0)`: what a model read or a step does), `--blocks` times, and reports the
process CPU per block (`time.process_time`, the minimum over `--reps` repetitions) and the CPU
above the same loop without a scope. Variants: `asyncio.timeout(None)`, `asyncio.timeout_at`
a far deadline, `CancelScope()` made per block and one reused (the runner's step scope),
`CancelScope(far)` re-armed each block or keeping its timer (`keep_timer`: the runner's step
scope in a run with a deadline), and `Deadline(far)` (a model call's).

`run_deadlines()` returns the numbers as a dict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from agenthost.core.deadlines import CancelScope, Deadline

FAR = 3600.0

Blocks = Callable[[int], Awaitable[None]]


async def _bare(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _timeout_none(n: int) -> None:
    for _ in range(n):
        async with asyncio.timeout(None):
            await asyncio.sleep(0)


async def _timeout_at_far(n: int) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(n):
        async with asyncio.timeout_at(loop.time() + FAR):
            await asyncio.sleep(0)


async def _scope_new(n: int) -> None:
    for _ in range(n):
        with CancelScope():
            await asyncio.sleep(0)


async def _scope_reused(n: int) -> None:
    scope = CancelScope(loop=asyncio.get_running_loop())
    for _ in range(n):
        with scope:
            await asyncio.sleep(0)


async def _scope_far(n: int) -> None:
    loop = asyncio.get_running_loop()
    scope = CancelScope(loop.time() + FAR, loop=loop)
    for _ in range(n):
        with scope:
            await asyncio.sleep(0)


async def _scope_far_kept(n: int) -> None:
    loop = asyncio.get_running_loop()
    scope = CancelScope(loop.time() + FAR, keep_timer=True, loop=loop)
    for _ in range(n):
        with scope:
            await asyncio.sleep(0)
    scope.close()


async def _deadline_far(n: int) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(n):
        with Deadline(loop.time() + FAR):
            await asyncio.sleep(0)


VARIANTS: dict[str, Blocks] = {
    "no scope": _bare,
    "asyncio.timeout(None)": _timeout_none,
    "asyncio.timeout_at(far)": _timeout_at_far,
    "CancelScope() new each block": _scope_new,
    "CancelScope() reused": _scope_reused,
    "CancelScope(far) reused": _scope_far,
    "CancelScope(far, keep_timer)": _scope_far_kept,
    "Deadline(far)": _deadline_far,
}


def _cpu_per_block(blocks: Blocks, n: int, reps: int, *, uvloop: bool) -> float:
    async def measure() -> float:
        await blocks(min(n, 1000))  # warm up
        best = float("inf")
        for _ in range(reps):
            start = time.process_time()
            await blocks(n)
            best = min(best, (time.process_time() - start) / n * 1e6)
        return best

    if uvloop:
        import uvloop as _uvloop

        return _uvloop.run(measure())
    return asyncio.run(measure())


def run_deadlines(
    blocks: int = 200_000, reps: int = 5, *, uvloop: bool = False
) -> dict[str, dict[str, float]]:
    """{variant: {"cpu_us": per block, "over_bare_us": above the loop without a scope}}."""
    cpu = {name: _cpu_per_block(fn, blocks, reps, uvloop=uvloop) for name, fn in VARIANTS.items()}
    bare = cpu["no scope"]
    return {
        name: {"cpu_us": round(us, 3), "over_bare_us": round(us - bare, 3)}
        for name, us in cpu.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--blocks", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, not asyncio's loop")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_deadlines(args.blocks, args.reps, uvloop=args.uvloop)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'variant':32} {'CPU µs/block':>13} {'over no scope':>14}")
    for name, row in result.items():
        print(f"{name:32} {row['cpu_us']:13.3f} {row['over_bare_us']:14.3f}")


if __name__ == "__main__":
    main()
