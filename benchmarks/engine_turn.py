"""The engine's own CPU per turn, without HTTP: Runner + LLMAgent + the store, over a model in
this process that answers the `turn` workload's two calls at once (a tool call, then the
answer, with the same tool and events as `benchmarks/_agent.py`).

    PYTHONPATH=src:. .venv/bin/python -m benchmarks.engine_turn [--turns 3000] [--reps 3]
        [--stream] [--store memory] [--store sqlite]

No socket and no second process, so the figure moves less with the machine's load than the
HTTP workloads'; run it alternately on two checkouts. Each repetition runs `turns` new-session
turns on one store after 200 warm-up turns and prints the process CPU per turn and the cyclic
garbage collector's share of it (its thread time, from `gc.callbacks`), with its collections
per turn. The memory store keeps every session, so its heap grows as a server's does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from collections.abc import AsyncGenerator, Sequence
from itertools import count
from typing import Any

from agenthost.backends.sessions import open_session_store
from agenthost.core.messages import Message, TextPart, ToolCallPart
from agenthost.core.usage import Usage
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.ports.models import ModelResponse, ResponseDone, StreamEvent, TextDelta, ToolSpec
from benchmarks._agent import SEARCH, agent_turn
from benchmarks._common import GCTime
from benchmarks.bare_loops import ANSWER

_calls = count(1)


class InstantModel:
    """A ChatModel answering at once: a `search` call, then (after a tool result) ANSWER."""

    name = "bench:instant"

    @staticmethod
    def _reply(messages: Sequence[Message]) -> ModelResponse:
        usage = Usage(input_tokens=10, output_tokens=5, requests=1)
        if messages[-1].role == "tool":
            answer = Message(role="assistant", parts=(TextPart(text=ANSWER),))
            return ModelResponse(message=answer, usage=usage, model="m", finish_reason="stop")
        call = ToolCallPart(id=f"call_{next(_calls)}", name="search", arguments='{"query":"x"}')
        message = Message(role="assistant", parts=(call,))
        return ModelResponse(message=message, usage=usage, model="m", finish_reason="tool_calls")

    async def request(
        self, messages: Sequence[Message], *, tools: Sequence[ToolSpec] = (), settings: Any = None
    ) -> ModelResponse:
        return self._reply(messages)

    async def stream(
        self, messages: Sequence[Message], *, tools: Sequence[ToolSpec] = (), settings: Any = None
    ) -> AsyncGenerator[StreamEvent, None]:
        response = self._reply(messages)
        if response.message.text:
            for piece in ("Done: ", "42 ", "results"):
                yield TextDelta(piece)
        yield ResponseDone(response)

    async def __aenter__(self) -> InstantModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


async def measure(url: str, *, stream: bool, turns: int) -> tuple[float, float, float]:
    """(CPU µs per turn, GC µs per turn, collections per turn)."""
    async with open_session_store(url) as store:
        agent = LLMAgent(model=InstantModel(), tools=[SEARCH], stream=stream)
        async with Runner(agent, store=store) as runner:
            for _ in range(200):
                await agent_turn(runner)
            spent = GCTime()
            gc.callbacks.append(spent)
            try:
                start = time.process_time()
                for _ in range(turns):
                    await agent_turn(runner)
                cpu = time.process_time() - start
            finally:
                gc.callbacks.remove(spent)
    return cpu / turns * 1e6, spent.seconds / turns * 1e6, spent.collections / turns


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--store", action="append", choices=("memory", "sqlite"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agenthost-engine-") as tmp:
        for rep in range(args.reps):
            for store in args.store or ["memory", "sqlite"]:
                url = "memory://" if store == "memory" else f"sqlite:///{tmp}/engine{rep}.db"
                cpu, in_gc, collections = asyncio.run(
                    measure(url, stream=args.stream, turns=args.turns)
                )
                print(
                    f"{store:<7} cpu {cpu:6.0f} µs/turn  gc {in_gc:5.1f} µs/turn "
                    f"({collections:.3f} collections/turn)"
                )


if __name__ == "__main__":
    main()
