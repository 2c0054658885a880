"""`POST /v1/apps/{agent}/runs` makes the session id and tells the runner the session is new
(`Runner.run(new=True)`): the session is created with the user's message in one store call,
without a `get` first (two of a Postgres run's seven round trips). A run in a named session
still looks it up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.ports.sessions import SessionStore

from .conftest import Users

STORE_CALLS = ("get", "create", "create_with_events", "append")


class Logged:
    """A session store that logs the calls a run makes (everything else passes through)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in STORE_CALLS:
            return attr

        async def logged(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await attr(*args, **kwargs)

        return logged


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as opened:
        yield Logged(opened)  # type: ignore[misc]


@pytest.mark.parametrize("stream", [True, False])
async def test_a_run_in_a_new_session_creates_it_with_the_message(
    users: Users, store: Logged, stream: bool
) -> None:
    r = await users.alice.post("/v1/apps/helper/runs", json={"message": "a", "stream": stream})
    assert r.status_code == 200
    sid = r.headers["x-session-id"]
    assert store.calls == ["create_with_events", "append"]
    store.calls.clear()
    r = await users.alice.post(
        f"/v1/apps/helper/sessions/{sid}/runs", json={"message": "b", "stream": False}
    )
    assert r.json()["status"] == "completed"
    assert "create_with_events" not in store.calls and store.calls.count("get") >= 1
    session = await store.inner.get(("test/helper", "alice", sid))
    assert [e.type for e in session.events].count("message.received") == 2
