"""Many concurrent sessions: `sessions` one-turn sessions at once, fake server at 100 ms.

Each variant runs in a fresh child process (`python -m benchmarks.concurrency VARIANT ...`),
so its peak RSS is its own (VmHWM, see `peak_rss_mb`; `ru_maxrss` is in the JSON too): imports,
one pooled client (and the store), a few warm-up turns one after another, then all sessions
started together in one TaskGroup. The wall time covers only that last part; the ideal is
2 x latency (two model calls per turn). The value is the median over `concurrent_repeat`
child runs (peak RSS: the largest). A client whose first run takes more than 3x the fastest
bare loop's is not run again (its rank is not in doubt, and httpx takes ~20 s here).

Variants: `bare:<client>` for each client, `agenthost:memory` and `agenthost:sqlite`
(LLMAgent with stream=False).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from benchmarks._common import (
    MAX_RSS_MB,
    Outcome,
    Settings,
    compared,
    fastest,
    limited,
    max_ratio_for,
    median,
)

WORKLOAD = "concurrent sessions (100 ms)"
WARMUP_TURNS = 10
SLOW_FACTOR = 3.0


def peak_rss_mb() -> tuple[float, float]:
    """(peak RSS of this process's own memory, ru_maxrss), in MB.

    `ru_maxrss` is not enough on its own: Linux keeps the largest RSS of every address space
    the process ever had, and a child started by a fork or vfork of the suite had the suite's
    (hundreds of MB after the other workloads) until its exec. `VmHWM` from /proc/self/status
    is the peak of the current address space, i.e. of this child since its exec.
    """
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return maxrss, maxrss
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024, maxrss
    return maxrss, maxrss


async def _gather(turn: Callable[[int], Coroutine[Any, Any, object]], sessions: int) -> float:
    for i in range(WARMUP_TURNS):
        await turn(i)
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for i in range(sessions):
            group.create_task(turn(i))
    return time.perf_counter() - start


async def _bare(kind: str, base_url: str, sessions: int) -> float:
    from benchmarks import bare_loops

    client, _ = bare_loops.open_client(kind)
    async with client as opened:
        complete = bare_loops.completer(kind, opened, base_url, stream=False)

        async def one(_: int) -> str:
            answer = await bare_loops.turn(complete, [])
            if answer != bare_loops.ANSWER:
                raise RuntimeError(f"unexpected answer {answer!r}")
            return answer

        return await _gather(one, sessions)


async def _agent(store_url: str, base_url: str, sessions: int) -> float:
    from benchmarks._agent import agent_turn, open_runner

    async with open_runner(base_url, store_url, stream=False) as runner:
        return await _gather(lambda _: agent_turn(runner), sessions)


def child(variant: str, base_url: str, sessions: int, db: str) -> dict[str, Any]:
    """Run one variant in this process; the numbers as a dict."""
    kind, _, arg = variant.partition(":")
    if kind == "bare":
        wall = asyncio.run(_bare(arg, base_url, sessions))
    elif kind == "agenthost":
        url = "memory://" if arg == "memory" else f"sqlite:///{db}"
        wall = asyncio.run(_agent(url, base_url, sessions))
    else:
        raise SystemExit(f"unknown variant {variant!r}")
    peak, maxrss = peak_rss_mb()
    return {"variant": variant, "wall_s": wall, "peak_rss_mb": peak, "ru_maxrss_mb": maxrss}


def _spawn(variant: str, base_url: str, sessions: int, db: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.concurrency", variant, base_url, str(sessions)]
    cmd.append(str(db))
    root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(settings: Settings) -> Outcome:
    from agenthost.testing.fake_openai import FakeOpenAIServer

    variants = [f"bare:{k}" for k in settings.clients] + ["agenthost:memory", "agenthost:sqlite"]
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    out = Outcome()
    with (
        FakeOpenAIServer.start_in_process(latency=settings.concurrent_latency) as server,
        tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp,
    ):
        for rep in range(settings.concurrent_repeat):
            for variant in variants:
                if rep > 0 and _too_slow(variant, runs):
                    continue
                db = Path(tmp) / f"concurrent-{rep}.db"
                runs[variant].append(_spawn(variant, server.base_url, settings.sessions, db))
    for variant in variants:
        if len(runs[variant]) < settings.concurrent_repeat:
            out.notes.append(
                f"{WORKLOAD}: {variant} ran once (more than {SLOW_FACTOR:g}x the fastest bare "
                f"loop's wall time)"
            )
    wall = {v: median([r["wall_s"] for r in rs]) for v, rs in runs.items()}
    rss = {v: max(r["peak_rss_mb"] for r in rs) for v, rs in runs.items()}
    ref_name, ref = fastest({v: w for v, w in wall.items() if v.startswith("bare")})
    ideal = 2 * settings.concurrent_latency
    label = f"{settings.sessions} sessions"
    for variant in variants:
        kind, _, arg = variant.partition(":")
        store = arg if kind == "agenthost" else "-"
        name = f"agenthost, {label}" if kind == "agenthost" else f"bare {arg}, {label}"
        out.rows.append(
            compared(
                workload=WORKLOAD,
                variant=name,
                store=store,
                value=wall[variant],
                unit="s",
                reference=ref,
                reference_name=ref_name,
                max_ratio=None if kind == "bare" else max_ratio_for(store),
                note=f"peak RSS {rss[variant]:.0f} MB, ideal {ideal:.2f} s",
            )
        )
    for variant in variants:
        if variant.startswith("agenthost"):
            out.rows.append(
                limited(
                    workload=WORKLOAD,
                    variant=f"agenthost peak RSS, {label}",
                    store=variant.partition(":")[2],
                    value=rss[variant],
                    unit="MB",
                    limit=MAX_RSS_MB,
                    note=f"bare {ref_name.partition(':')[2]}: {rss[ref_name]:.0f} MB",
                )
            )
    out.details = {
        "sessions": settings.sessions,
        "latency_s": settings.concurrent_latency,
        "warmup_turns": WARMUP_TURNS,
        "wall_s_median": wall,
        "peak_rss_mb_max": rss,
        "runs": runs,
    }
    return out


def _too_slow(variant: str, runs: dict[str, list[dict[str, Any]]]) -> bool:
    if not variant.startswith("bare"):
        return False
    firsts = [rs[0]["wall_s"] for v, rs in runs.items() if v.startswith("bare") and rs]
    mine = runs[variant]
    return bool(mine and firsts) and mine[0]["wall_s"] > SLOW_FACTOR * min(firsts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One concurrency variant (a child process).")
    parser.add_argument("variant", help="bare:<client> | agenthost:memory | agenthost:sqlite")
    parser.add_argument("base_url")
    parser.add_argument("sessions", type=int)
    parser.add_argument("db", help="SQLite file for agenthost:sqlite")
    args = parser.parse_args(argv)
    print(json.dumps(child(args.variant, args.base_url, args.sessions, args.db)), flush=True)


if __name__ == "__main__":
    main()
