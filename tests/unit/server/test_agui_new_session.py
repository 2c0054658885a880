"""AG-UI (server/agui.py) with a thread the server does not know: the session is looked up
once by the endpoint (its history and state start the stream), then the run is told it is
new (`RunRequest.new_session`) and creates it with the message in one store call, without a
second `get`. A known thread is run as before."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.ports.sessions import SessionStore

from .conftest import Users
from .test_agui import agui_events, run_input, types
from .test_new_session_runs import Logged


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as opened:
        yield Logged(opened)  # type: ignore[misc]


async def test_a_new_thread_is_created_by_the_run_without_a_second_get(
    users: Users, store: Logged
) -> None:
    r = await users.alice.post("/agui/helper", json=run_input("hello", thread="fresh-1"))
    assert r.status_code == 200
    assert types(agui_events(r.text))[-1] == "RUN_FINISHED"
    assert store.calls == ["get", "create_with_events", "append"]
    store.calls.clear()
    again = await users.alice.post("/agui/helper", json=run_input("more", thread="fresh-1"))
    assert types(agui_events(again.text))[-1] == "RUN_FINISHED"
    assert "create_with_events" not in store.calls and store.calls.count("get") == 2
    session = await store.inner.get(("test/helper", "alice", "fresh-1"))
    assert [e.type for e in session.events].count("message.received") == 2
