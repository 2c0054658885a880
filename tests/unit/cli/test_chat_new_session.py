"""`agenthost chat` without `--session`, and after `/new`, tells the runner the session is new
(`Runner.run(new=True)`): its first message creates it in one store call, without a `get`
first; the next turns of that session, and a session named with `--session`, look it up."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from agenthost.backends.sessions import open_session_store
from agenthost.cli._chat import ChatSession
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.testing.scripted import ScriptedModel
from tests.unit.server.test_new_session_runs import Logged


@pytest.mark.parametrize(("new", "first"), [(True, "create_with_events"), (False, "get")])
async def test_a_chat_creates_its_new_sessions_without_a_get(new: bool, first: str) -> None:
    async with open_session_store("memory://") as store:
        log = Logged(store)
        model = ScriptedModel(["one", "two", "three"])
        runner = Runner(LLMAgent(model=model), store=log, app="t")  # type: ignore[arg-type]
        rt: Any = SimpleNamespace(runner=runner)
        console = Console(file=io.StringIO(), width=100)
        chat = ChatSession(rt, console, user="me", session_id="s-1", new=new)
        try:
            await chat.run_turn("hi")
            assert log.calls[0] == first
            log.calls.clear()
            await chat.run_turn("again")  # the same session: it exists now
            assert log.calls[0] == "get" and "create_with_events" not in log.calls
            log.calls.clear()
            assert await chat.command("/new")
            await chat.run_turn("fresh")
            assert log.calls[0] == "create_with_events" and "get" not in log.calls
        finally:
            chat.reader.close()
        assert chat.session_id != "s-1"
        for sid, turns in (("s-1", 2), (chat.session_id, 1)):
            session = await store.get(("t", "me", sid))
            assert session is not None
            assert [e.type for e in session.events].count("message.received") == turns
