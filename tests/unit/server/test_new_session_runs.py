"""`POST /v1/apps/{agent}/runs` makes the session id and tells the runner the session is new
(`Runner.run(new=True)`): the session is created with the user's message in one store call,
without a `get` first (two of a Postgres run's seven round trips). A run in a named session
still looks it up. So do the other entry points that make the id: the OpenAI chat and
Responses APIs without a session, an MCP call without `session_id`, an A2A message without
a context id."""

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


# ---- the other entry points that make the session id: OpenAI, Responses, MCP, A2A ----------


async def test_an_openai_chat_without_a_session_header_creates_the_session(
    users: Users, store: Logged
) -> None:
    body = {"model": "helper", "messages": [{"role": "user", "content": "a"}]}
    r = await users.alice.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    assert store.calls == ["create_with_events", "append"]
    store.calls.clear()
    sid = r.headers["x-session-id"]
    r = await users.alice.post("/v1/chat/completions", json=body, headers={"X-Session-Id": sid})
    assert r.status_code == 200
    assert "create_with_events" not in store.calls and store.calls.count("get") >= 1
    store.calls.clear()
    named = {"X-Session-Id": "chosen-by-the-client"}  # named: it may exist, so it is looked up
    assert (await users.alice.post("/v1/chat/completions", json=body, headers=named)).is_success
    assert store.calls[0] == "get"


async def test_a_response_without_a_session_creates_it_and_a_follow_up_looks_it_up(
    users: Users, store: Logged
) -> None:
    r = await users.alice.post("/v1/responses", json={"model": "helper", "input": "a"})
    assert r.status_code == 200
    assert store.calls == ["create_with_events", "append"]
    store.calls.clear()
    body = {"model": "helper", "input": "b", "previous_response_id": r.json()["id"]}
    r = await users.alice.post("/v1/responses", json=body)
    assert r.status_code == 200
    assert "create_with_events" not in store.calls and store.calls.count("get") >= 1


async def test_an_mcp_call_without_a_session_id_creates_the_session(
    users: Users, store: Logged
) -> None:
    from agenthost.server.auth import Principal
    from agenthost.server.mcp import _AgentTools

    tools = _AgentTools(users.state)
    answer = await tools._run(Principal("alice"), "helper", {"message": "a"})
    assert answer["status"] == "completed"
    assert store.calls == ["create_with_events", "append"]
    store.calls.clear()
    again = {"message": "b", "session_id": answer["session_id"]}
    assert (await tools._run(Principal("alice"), "helper", again))["status"] == "completed"
    assert "create_with_events" not in store.calls and store.calls.count("get") >= 1


def _a2a_send(text: str, context_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "kind": "message",
        "role": "user",
        "messageId": f"m-{text}",
        "parts": [{"kind": "text", "text": text}],
    }
    if context_id is not None:
        message["contextId"] = context_id
    return {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}


async def test_an_a2a_message_without_a_context_creates_the_session(
    users: Users, store: Logged
) -> None:
    pytest.importorskip("a2a")
    r = await users.alice.post("/a2a/helper/", json=_a2a_send("a"))
    task = r.json()["result"]
    assert task["status"]["state"] == "completed", task
    assert store.calls[:2] == ["create_with_events", "append"]
    store.calls.clear()
    r = await users.alice.post("/a2a/helper/", json=_a2a_send("b", task["contextId"]))
    assert r.json()["result"]["status"]["state"] == "completed"
    assert store.calls[0] == "get" and "create_with_events" not in store.calls
