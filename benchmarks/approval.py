"""The cost of a human-approval pause and its resume (report only, no target).

One turn with one tool round trip, as the `turn` workload runs it (fake server at 0 ms, plain
responses), with the tool marked `requires_approval`: the run pauses (`approval.requested`,
`run.completed` paused), then `Runner.answer_approval` approves it and the continuation makes
the call and gets the answer. Compared with the same turn without approval, on memory:// and
sqlite://. The difference is what a pause and resume cost: one more run (its first and
terminal events, a session load under the lock), the approval index write and delete in the
store's key/value space, and the answer's check of the session's events.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

from agenthost.backends.sessions import open_session_store
from agenthost.engine.approval import requires_approval
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.testing.fake_openai import FakeOpenAIServer
from benchmarks._agent import SEARCH, make_model
from benchmarks._common import Outcome, Settings, compared, median
from benchmarks.bare_loops import ANSWER, USER_TEXT
from benchmarks.turn import store_url

WORKLOAD = "approval pause + resume"
STORES = ("memory", "sqlite")


async def approved_turn(runner: Runner) -> None:
    """A turn that pauses, then is approved; fails loudly if it did not go as planned."""
    approval_id = ""
    session_id = ""
    async for event in runner.run("bench", None, USER_TEXT):
        session_id = event.session_id
        if event.type == "approval.requested":
            approval_id = str((event.data or {})["approval_id"])
        elif event.is_terminal and (event.data or {}).get("status") != "paused":
            raise RuntimeError(f"the turn did not pause: {event}")
    text = ""
    events = runner.answer_approval("bench", approval_id, approve=True, session_id=session_id)
    async for event in events:
        if event.type == "message.completed" and event.message is not None:
            text = event.message.text
    if text != ANSWER:
        raise RuntimeError(f"unexpected answer after the approval: {text!r}")


async def plain_turn(runner: Runner) -> None:
    text = ""
    async for event in runner.run("bench", None, USER_TEXT):
        if event.type == "message.completed" and event.message is not None:
            text = event.message.text
    if text != ANSWER:
        raise RuntimeError(f"unexpected answer: {text!r}")


async def rep(base_url: str, url: str, *, approval: bool, warmup: int, turns: int) -> float:
    """Seconds per turn (mean of `turns` after `warmup`)."""
    model = make_model(base_url)
    tool = requires_approval(SEARCH) if approval else SEARCH
    agent = LLMAgent(model=model, tools=[tool], stream=False)
    turn = approved_turn if approval else plain_turn
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(model)
        store = await stack.enter_async_context(open_session_store(url))
        runner = await stack.enter_async_context(Runner(agent, store=store))
        for _ in range(warmup):
            await turn(runner)
        start = time.perf_counter()
        for _ in range(turns):
            await turn(runner)
        return (time.perf_counter() - start) / turns


def run(settings: Settings) -> Outcome:
    turns = max(settings.turns // 3, 1)
    warmup = max(settings.warmup // 3, 1)
    samples: dict[tuple[str, bool], list[float]] = {
        (store, approval): [] for store in STORES for approval in (False, True)
    }
    with (
        FakeOpenAIServer.start_in_process(latency=0.0) as server,
        tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp,
    ):
        for index in range(settings.repeat):
            for (store, approval), values in samples.items():
                url = store_url(store, Path(tmp), f"approval-{int(approval)}-{index}")
                seconds = asyncio.run(
                    rep(server.base_url, url, approval=approval, warmup=warmup, turns=turns)
                )
                values.append(seconds * 1e3)
    out = Outcome()
    medians = {key: median(values) for key, values in samples.items()}
    for store in STORES:
        plain, paused = medians[(store, False)], medians[(store, True)]
        out.rows.append(
            compared(
                workload=WORKLOAD,
                variant="pause + approve",
                store=store,
                value=paused,
                unit="ms",
                reference=plain,
                reference_name="the same turn without approval",
                max_ratio=None,
                note=f"the pause and resume cost {(paused - plain) * 1e3:.0f} µs/turn",
            )
        )
    out.details = {
        "turns_per_repetition": turns,
        "warmup_turns": warmup,
        "repetitions": settings.repeat,
        "ms_per_turn_median": {
            f"{'approval' if approval else 'plain'} [{store}]": value
            for (store, approval), value in medians.items()
        },
    }
    return out
