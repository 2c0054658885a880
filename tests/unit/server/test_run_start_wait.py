"""A request that starts a run waits for its first event; if it goes away first, the run goes
on (or is cancelled by the cancel route while it still waits for its session)."""

from __future__ import annotations

import asyncio

import pytest

from agenthost.core.messages import Message
from agenthost.engine.runner import Runner
from agenthost.server.runs import RunChannel, RunManager, RunRequest

from .conftest import Gate


def _request(text: str, run_id: str) -> RunRequest:
    return RunRequest(
        agent="helper",
        user_id="alice",
        session_id="s1",
        message=Message.user(text),
        run_id=run_id,
        busy_policy="queue",
    )


async def _left_behind_a_slow_run(
    manager: RunManager, runner: Runner, gate: Gate, admitted: asyncio.Event
) -> tuple[RunChannel, RunChannel]:
    """A slow first run holding the session, and a second one whose starting request, waiting
    for its first event, was cancelled (its client left)."""
    first = await manager.start(_request("slow one", "run-1"), runner)
    await gate.entered.wait()
    waiting = asyncio.create_task(manager.start(_request("hello", "run-2"), runner))
    await admitted.wait()  # its channel is registered in the same step, then it waits
    second = manager.get("run-2")
    assert second is not None and not second.began
    waiting.cancel()
    await asyncio.wait({waiting})
    assert waiting.cancelled()
    return first, second


async def _ended(channel: RunChannel) -> None:
    assert channel.task is not None
    await asyncio.wait({channel.task})


@pytest.mark.parametrize("cancelled", [False, True])
async def test_a_run_goes_on_when_its_starting_request_leaves_until_cancelled(
    runners: dict[str, Runner], gate: Gate, cancelled: bool
) -> None:
    async with asyncio.TaskGroup() as group:
        admitted = asyncio.Event()

        def admit(request: RunRequest) -> None:
            if request.run_id == "run-2":
                admitted.set()

        manager = RunManager(group, before_run=[admit])
        first, second = await _left_behind_a_slow_run(manager, runners["helper"], gate, admitted)
        if cancelled:  # the cancel route, while it still waits for its session: task cancelled
            manager.cancel(second, "stop")
            await _ended(second)
        gate.set()
        await _ended(first)
        await _ended(second)
    assert first.terminal is not None and first.terminal.type == "run.completed"
    if cancelled:
        assert not second.began and second.terminal is None
    else:
        assert second.began
        assert second.terminal is not None and second.terminal.type == "run.completed"
