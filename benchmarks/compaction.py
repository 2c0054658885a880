"""Context compaction over a 500-turn session: the model request stays under its budget and a
turn costs the same at turn 500 as at turn 50.

One session, 500 turns in a row through the Runner (SQLite store, as a long chat lives), with
an LLMAgent whose `compaction` has a budget of 2,000 tokens and keeps 4 turns. The agent's
model and the summariser are in-process fake models (`FunctionModel`): the agent's model
records the tokens of every request it gets (counted as compaction counts them), the
summariser returns a bounded summary at once, so the time measured is the runtime's own
(store, history, counting, compaction) and not a model's.

Reported: the largest request of the run (target: <= the budget), the median turn time in the
first and the last 100 turns after a 50-turn warm-up (target: last / first <= 1.3), the number
of compactions and a compacting turn's median time. For contrast, the same session without
compaction: its last request's size (it grows with every turn) and its last 100 turns' time.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from agenthost.backends.sessions import open_session_store
from agenthost.core.messages import Message
from agenthost.engine.compaction import Compaction, count_request, counter_for
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.testing.scripted import FunctionModel
from benchmarks._common import Outcome, Row, Settings, limited, median

WORKLOAD = "compaction, 500-turn session"
BUDGET = 2000
KEEP = 4
WARMUP = 50
WINDOW = 100
QUESTION = "Tell me more about the history of the Roman aqueducts and how they were built. "
ANSWER = "The aqueducts carried water over long distances with a steady, gentle slope. " * 3


class _Agent:
    """The agent's fake model: answers, and records each request's tokens."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self._counter = counter_for("test:agent")

    def __call__(self, messages: list[Message], tools: object) -> str:
        self.tokens.append(count_request(self._counter, messages))
        return ANSWER


def _summarise(messages: list[Message], tools: object) -> str:
    """A bounded summary: the last 600 characters of what it was shown."""
    return "The user asked about Roman aqueducts. " + messages[-1].text[-600:]


async def _session(turns: int, compact: bool, db: Path) -> tuple[list[float], list[int], int]:
    model = _Agent()
    compaction = (
        Compaction(
            budget_tokens=BUDGET,
            keep_turns=KEEP,
            model=FunctionModel(_summarise, name="test:summariser"),
        )
        if compact
        else None
    )
    agent = LLMAgent(
        model=FunctionModel(model, name="test:agent"),
        instructions="Answer briefly.",
        stream=False,
        compaction=compaction,
    )
    times: list[float] = []
    compactions = 0
    async with open_session_store(f"sqlite:///{db}") as store:
        runner = Runner(agent, store=store)
        for turn in range(turns):
            start = time.perf_counter()
            async for event in runner.run("bench", "long", f"{turn}: {QUESTION}"):
                if event.type == "compaction.summary":
                    compactions += 1
                elif event.type == "run.failed":
                    raise RuntimeError(f"turn {turn} failed: {event.error}")
            times.append(time.perf_counter() - start)
    return times, model.tokens, compactions


def run(settings: Settings) -> Outcome:
    turns = 120 + WARMUP if settings.quick else 500
    window = 40 if settings.quick else WINDOW
    with tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp:
        times, tokens, compactions = asyncio.run(_session(turns, True, Path(tmp) / "compacted.db"))
        plain_times, plain_tokens, _ = asyncio.run(_session(turns, False, Path(tmp) / "plain.db"))
    first = median(times[WARMUP : WARMUP + window]) * 1e3
    last = median(times[-window:]) * 1e3
    growth = last / first
    out = Outcome()
    out.rows.append(
        limited(
            workload=WORKLOAD,
            variant=f"largest request, {turns} turns",
            store="sqlite",
            value=float(max(tokens)),
            unit="tokens",
            limit=BUDGET,
            note=f"{compactions} compactions; without compaction the last request has "
            f"{plain_tokens[-1]} tokens",
        )
    )
    out.rows.append(
        Row(
            workload=WORKLOAD,
            variant=f"turn time, last {window} / turns {WARMUP}-{WARMUP + window}",
            store="sqlite",
            value=last,
            unit="ms",
            reference=first,
            reference_name=f"turns {WARMUP}-{WARMUP + window}",
            ratio=growth,
            target="<= 1.3x",
            met=growth <= 1.3,
            note=f"without compaction the last {window} turns take "
            f"{median(plain_times[-window:]) * 1e3:.2f} ms",
        )
    )
    out.details = {
        "turns": turns,
        "budget_tokens": BUDGET,
        "keep_turns": KEEP,
        "compactions": compactions,
        "request_tokens": tokens,
        "request_tokens_without_compaction": plain_tokens,
        "ms_per_turn": [round(t * 1e3, 4) for t in times],
        "ms_per_turn_without_compaction": [round(t * 1e3, 4) for t in plain_times],
    }
    return out
