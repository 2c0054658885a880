"""Turn time against history length: at 1 and at 150 turns of history, fake server at 0 ms.

The whole history is sent to the model on every call (no window), so the request bodies
grow with it on both sides: 150 turns are 600 messages. The runtime's own cost must not.

- bare <client>: the history is built by running L real turns, then every sample is one
  timed turn on a copy of that message list (each sample at exactly L turns of history).
- agenthost [memory|sqlite] (stream=False): `history_samples` sessions are built by running L
  real turns each through the Runner (so the session store, the history cache and the wire
  cache hold them as they would in a long conversation), then each session's next turn is
  timed once.

Every variant runs `history_repeat` times in round-robin order, each repetition in a fresh
event loop with a fresh client and store; the value is the median of all samples' wall time,
and the note gives the median of their process CPU time (18 samples of about 1.5 ms: on a
shared machine the wall medians move by half a millisecond between runs, the CPU ones much
less). Turns at the longest history are compared with the fastest bare loop at the same
length (target).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agenthost.testing.fake_openai import FakeOpenAIServer
from benchmarks import bare_loops
from benchmarks._agent import agent_turn, open_runner
from benchmarks._common import Outcome, Settings, compared, fastest, max_ratio_for, median
from benchmarks.turn import STORES, Sample, store_url

WORKLOAD = "turn at history length (0 ms)"
WARMUP_TURNS = 20


async def bare_samples(kind: str, base_url: str, length: int, samples: int) -> list[Sample]:
    client, _ = bare_loops.open_client(kind)
    async with client as opened:
        complete = bare_loops.completer(kind, opened, base_url, stream=False)
        for _ in range(WARMUP_TURNS):
            await bare_loops.turn(complete, [])
        history: list[dict[str, Any]] = []
        for _ in range(length):
            await bare_loops.turn(complete, history)
        times = []
        for _ in range(samples):
            copy = list(history)
            cpu = time.process_time()
            start = time.perf_counter()
            answer = await bare_loops.turn(complete, copy)
            times.append(Sample(time.perf_counter() - start, time.process_time() - cpu))
            if answer != bare_loops.ANSWER:
                raise RuntimeError(f"bare {kind} loop got an unexpected answer")
        return times


async def agent_samples(base_url: str, url: str, length: int, samples: int) -> list[Sample]:
    async with open_runner(base_url, url, stream=False) as runner:
        for _ in range(WARMUP_TURNS):
            await agent_turn(runner)
        sessions = []
        for _ in range(samples):
            sid = await agent_turn(runner)
            for _ in range(length - 1):
                await agent_turn(runner, session_id=sid)
            sessions.append(sid)
        times = []
        for sid in sessions:
            cpu = time.process_time()
            start = time.perf_counter()
            await agent_turn(runner, session_id=sid)
            times.append(Sample(time.perf_counter() - start, time.process_time() - cpu))
        return times


def run(settings: Settings) -> Outcome:
    samples: dict[int, dict[str, list[Sample]]] = {}
    with (
        FakeOpenAIServer.start_in_process(latency=0.0) as server,
        tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp,
    ):
        for length in settings.history_lengths:
            variants = _variants(settings, length)
            found = samples[length] = {name: [] for name in variants}
            for rep in range(settings.history_repeat):
                for name, variant in variants.items():
                    found[name] += variant(server.base_url, Path(tmp), rep)
    return _outcome(samples, settings)


Variant = Callable[[str, Path, int], list[Sample]]


def _variants(settings: Settings, length: int) -> dict[str, Variant]:
    count = settings.history_samples
    variants: dict[str, Variant] = {}
    for kind in settings.clients:

        def bare(base_url: str, _tmp: Path, _rep: int, kind: str = kind) -> list[Sample]:
            return asyncio.run(bare_samples(kind, base_url, length, count))

        variants[f"bare {kind}"] = bare
    for store in STORES:

        def agent(base_url: str, tmp: Path, rep: int, store: str = store) -> list[Sample]:
            url = store_url(store, tmp, f"history-{length}-{rep}")
            return asyncio.run(agent_samples(base_url, url, length, count))

        variants[f"agenthost [{store}]"] = agent
    return variants


def _outcome(samples: dict[int, dict[str, list[Sample]]], settings: Settings) -> Outcome:
    out = Outcome()
    longest = max(settings.history_lengths)
    medians: dict[int, dict[str, float]] = {}
    cpus: dict[int, dict[str, float]] = {}
    overhead: dict[int, dict[str, float]] = {}
    for length, found in samples.items():
        ms = medians[length] = {
            name: median([t.wall for t in ts]) * 1e3 for name, ts in found.items()
        }
        cpu = cpus[length] = {name: median([t.cpu for t in ts]) * 1e3 for name, ts in found.items()}
        ref_name, ref = fastest({n: v for n, v in ms.items() if n.startswith("bare")})
        overhead[length] = {}
        for name, value in ms.items():
            is_bare = name.startswith("bare")
            store = "-" if is_bare else name.rsplit("[", 1)[1].rstrip("]")
            note = f"{4 * length} messages of history, cpu {cpu[name]:.3f} ms/turn"
            if not is_bare:
                extra = overhead[length][store] = (value - ref) * 1e3
                note += f", overhead {extra:.0f} µs/turn"
            out.rows.append(
                compared(
                    workload=WORKLOAD,
                    variant=f"{name.split(' [')[0]}, {length} turns",
                    store=store,
                    value=value,
                    unit="ms",
                    reference=ref,
                    reference_name=ref_name,
                    max_ratio=max_ratio_for(store) if not is_bare and length == longest else None,
                    note=note,
                )
            )
    out.details = {
        "samples_per_repetition": settings.history_samples,
        "repetitions": settings.history_repeat,
        "ms_per_turn_median": {str(k): v for k, v in medians.items()},
        "cpu_ms_per_turn_median": {str(k): v for k, v in cpus.items()},
        "overhead_us_per_turn": {str(k): v for k, v in overhead.items()},
        "ms_per_turn_samples": {
            str(k): {n: [round(t.wall * 1e3, 4) for t in ts] for n, ts in found.items()}
            for k, found in samples.items()
        },
        "cpu_ms_per_turn_samples": {
            str(k): {n: [round(t.cpu * 1e3, 4) for t in ts] for n, ts in found.items()}
            for k, found in samples.items()
        },
    }
    return out
