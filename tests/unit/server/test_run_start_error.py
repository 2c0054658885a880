"""A run that fails before its first event hands the error to the request that waits for it,
and asyncio logs nothing when that request has gone (nobody retrieves the error)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from agenthost.core.errors import RunCancelled
from agenthost.core.messages import Message
from agenthost.server.runs import RunChannel, RunManager, RunRequest


def _channel() -> RunChannel:
    request = RunRequest(agent="a", user_id="u", session_id="s", message=Message.user("x"))
    return RunChannel(request, None, capacity=8)  # type: ignore[arg-type] # no run here


async def test_the_waiting_request_gets_the_error() -> None:
    channel = _channel()
    waiting = asyncio.ensure_future(channel.started)
    assert RunManager._not_started(channel, RunCancelled("r", "cancelled before it started"))
    with pytest.raises(RunCancelled):
        await waiting


async def test_an_error_nobody_waits_for_is_not_logged() -> None:
    loop = asyncio.get_running_loop()
    logged: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: logged.append(context))
    try:
        channel = _channel()
        assert RunManager._not_started(channel, RunCancelled("r", "cancelled before it started"))
        del channel
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert logged == []
