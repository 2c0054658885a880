"""Per-turn runtime overhead: one turn with one tool round trip, fake server at 0 ms.

Variants, each run `repeat` times in round-robin order (so drift and background load hit all
of them alike), each repetition in a fresh event loop with a fresh client: `warmup` untimed
turns, then `turns` timed turns, every turn with a fresh history (the bare loop) or a new
session (agenthost). The value is the median over repetitions of the mean wall time per turn;
the CPU time this process spent per turn is recorded next to it (less sensitive to other
processes on the machine).

- bare <client>, bare <client> stream: `bare_loops` with each client considered.
- model client only: the same turn with agenthost's OpenAICompatibleModel, Message types and
  FunctionTool but no Runner, agent, events or store (where the overhead starts; no target).
- agenthost / agenthost stream, memory:// and sqlite:// (a WAL file in a temp dir): Runner.run
  over LLMAgent(stream=False / True). Plain rows are compared with the fastest plain bare
  loop, streamed rows with the fastest streamed bare loop (the same HTTP calls).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from agenthost.testing.fake_openai import FakeOpenAIServer
from benchmarks import bare_loops
from benchmarks._agent import agent_turn, make_model, model_turn, open_runner
from benchmarks._common import Outcome, Settings, compared, fastest, max_ratio_for, median

WORKLOAD = "turn (1 tool round trip, 0 ms)"
STORES = ("memory", "sqlite")
MODEL_ONLY = "model client only"


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float  # seconds per turn
    cpu: float  # CPU seconds per turn (this process)


async def _timed(turn: Callable[[], Awaitable[object]], warmup: int, turns: int) -> Sample:
    for _ in range(warmup):
        await turn()
    cpu = time.process_time()
    start = time.perf_counter()
    for _ in range(turns):
        await turn()
    wall = time.perf_counter() - start
    return Sample(wall / turns, (time.process_time() - cpu) / turns)


async def bare_rep(kind: str, base_url: str, *, stream: bool, warmup: int, turns: int) -> Sample:
    client, _ = bare_loops.open_client(kind)
    async with client as opened:
        complete = bare_loops.completer(kind, opened, base_url, stream=stream)

        async def one() -> str:
            return await bare_loops.turn(complete, [])

        if await one() != bare_loops.ANSWER:
            raise RuntimeError(f"bare {kind} loop got an unexpected answer")
        return await _timed(one, warmup, turns)


async def agent_rep(
    base_url: str, store_url: str, *, stream: bool, warmup: int, turns: int
) -> Sample:
    async with open_runner(base_url, store_url, stream=stream) as runner:
        return await _timed(lambda: agent_turn(runner), warmup, turns)


async def model_rep(base_url: str, *, warmup: int, turns: int) -> Sample:
    async with make_model(base_url) as model:
        if await model_turn(model) != bare_loops.ANSWER:
            raise RuntimeError("the model-only loop got an unexpected answer")
        return await _timed(lambda: model_turn(model), warmup, turns)


def store_url(store: str, directory: Path, name: str) -> str:
    return "memory://" if store == "memory" else f"sqlite:///{directory / name}.db"


def run(settings: Settings) -> Outcome:
    variants: dict[str, Callable[[str, Path, int], Sample]] = {}
    for stream in (False, True):
        suffix = " stream" if stream else ""
        for kind in settings.clients:
            variants[f"bare {kind}{suffix}"] = _bare_variant(kind, stream, settings)
        if not stream:
            variants[MODEL_ONLY] = _model_variant(settings)
        for store in STORES:
            variants[f"agenthost{suffix} [{store}]"] = _agent_variant(store, stream, settings)
    samples: dict[str, list[Sample]] = {name: [] for name in variants}
    with (
        FakeOpenAIServer.start_in_process(latency=0.0) as server,
        tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp,
    ):
        for rep in range(settings.repeat):
            for name, variant in variants.items():
                samples[name].append(variant(server.base_url, Path(tmp), rep))
    return _outcome(samples, settings)


def _bare_variant(kind: str, stream: bool, s: Settings) -> Callable[[str, Path, int], Sample]:
    def go(base_url: str, _tmp: Path, _rep: int) -> Sample:
        return asyncio.run(bare_rep(kind, base_url, stream=stream, warmup=s.warmup, turns=s.turns))

    return go


def _model_variant(s: Settings) -> Callable[[str, Path, int], Sample]:
    def go(base_url: str, _tmp: Path, _rep: int) -> Sample:
        return asyncio.run(model_rep(base_url, warmup=s.warmup, turns=s.turns))

    return go


def _agent_variant(store: str, stream: bool, s: Settings) -> Callable[[str, Path, int], Sample]:
    def go(base_url: str, tmp: Path, rep: int) -> Sample:
        url = store_url(store, tmp, f"turn-{int(stream)}-{rep}")
        return asyncio.run(agent_rep(base_url, url, stream=stream, warmup=s.warmup, turns=s.turns))

    return go


def _outcome(samples: dict[str, list[Sample]], settings: Settings) -> Outcome:
    wall = {name: median([s.wall for s in runs]) * 1e3 for name, runs in samples.items()}
    cpu = {name: median([s.cpu for s in runs]) * 1e3 for name, runs in samples.items()}
    plain = {n: v for n, v in wall.items() if n.startswith("bare") and not n.endswith("stream")}
    streamed = {n: v for n, v in wall.items() if n.startswith("bare") and n.endswith("stream")}
    references = {False: fastest(plain), True: fastest(streamed)}
    out = Outcome()
    for name, value in wall.items():
        stream = "stream" in name
        ref_name, ref = references[stream]
        note = f"cpu {cpu[name]:.3f} ms/turn"
        if name.startswith("bare") or name == MODEL_ONLY:
            if name == MODEL_ONLY:
                note += f", overhead {(value - ref) * 1e3:.0f} µs/turn"
            out.rows.append(
                compared(
                    workload=WORKLOAD,
                    variant=name,
                    value=value,
                    unit="ms",
                    reference=ref,
                    reference_name=ref_name,
                    max_ratio=None,
                    note=note,
                )
            )
            continue
        store = name.rsplit("[", 1)[1].rstrip("]")
        out.rows.append(
            compared(
                workload=WORKLOAD,
                variant=name.split(" [")[0],
                store=store,
                value=value,
                unit="ms",
                reference=ref,
                reference_name=ref_name,
                max_ratio=max_ratio_for(store),
                note=f"{note}, overhead {(value - ref) * 1e3:.0f} µs/turn",
            )
        )
    out.details = {
        "turns_per_repetition": settings.turns,
        "warmup_turns": settings.warmup,
        "repetitions": settings.repeat,
        "wall_ms_per_turn_median": wall,
        "cpu_ms_per_turn_median": cpu,
        "wall_ms_per_turn_samples": {
            n: [round(s.wall * 1e3, 4) for s in runs] for n, runs in samples.items()
        },
        "cpu_ms_per_turn_samples": {
            n: [round(s.cpu * 1e3, 4) for s in runs] for n, runs in samples.items()
        },
    }
    return out
