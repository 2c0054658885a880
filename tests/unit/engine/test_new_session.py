"""A run in a new session (session_id=None): no `get`, and the session is created with the
user's message in one store call when the store offers `create_with_events`; a store without
it gets `create` + `append`. Either way the message is stored before it is yielded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agenthost.core.events import Event
from agenthost.core.session import Session, SessionKey
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import ScriptedModel, tool_call


class CallLog:
    """Forwards the SessionStore methods to `inner` and logs each call (and what is stored)."""

    def __init__(self, inner: SessionStore, *, combined: bool) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.stored: set[str] = set()
        self.batches: list[list[str]] = []  # the event types of each write
        if combined:
            self.create_with_events = self._create_with_events

    async def get(self, key: SessionKey) -> Session | None:
        self.calls.append("get")
        return await self.inner.get(key)

    async def create(self, key: SessionKey, *, state: dict[str, Any] | None = None) -> Session:
        self.calls.append("create")
        return await self.inner.create(key, state=state)

    async def _create_with_events(self, key: SessionKey, events: Sequence[Event]) -> Session:
        self.calls.append("create_with_events")
        session: Session = await self.inner.create_with_events(key, events)  # type: ignore[attr-defined]
        self.stored.update(e.id for e in events)
        self.batches.append([e.type for e in events])
        return session

    async def append(self, session: Session, events: Sequence[Event]) -> None:
        self.calls.append("append")
        await self.inner.append(session, events)
        self.stored.update(e.id for e in events)
        self.batches.append([e.type for e in events])


async def _run(
    log: CallLog, session_id: str | None, agent: LLMAgent | None = None, *, new: bool = False
) -> list[Event]:
    agent = agent or LLMAgent(model=ScriptedModel(["hello"]))
    runner = Runner(agent, store=log, app="t")  # type: ignore[arg-type]
    events = []
    async for event in runner.run("u", session_id, "hi", new=new):
        assert event.partial or event.id in log.stored, event.type
        events.append(event)
    return events


async def test_a_new_session_is_created_with_the_message_in_one_call(store: SessionStore) -> None:
    log = CallLog(store, combined=True)
    events = await _run(log, None)
    assert log.calls == ["create_with_events", "append"]  # the answer and the end: one
    session = await store.get(SessionKey("t", "u", events[0].session_id))
    assert session is not None
    assert [e.type for e in session.events] == [e.type for e in events if not e.partial]
    assert session.events[0].type == "message.received" and session.events[0].seq == 1


async def test_a_store_without_it_gets_create_then_append(store: SessionStore) -> None:
    log = CallLog(store, combined=False)
    events = await _run(log, None)
    assert log.calls == ["create", "append", "append"]
    assert events[0].type == "message.received" and events[-1].type == "run.completed"


async def test_a_named_session_is_looked_up_first(store: SessionStore) -> None:
    log = CallLog(store, combined=True)
    await _run(log, "s1")
    assert log.calls[:3] == ["get", "create", "append"]
    log.calls.clear()
    await _run(log, "s1")
    assert log.calls[0] == "get" and "create" not in log.calls


async def test_a_session_named_new_is_created_with_the_message_without_a_get(
    store: SessionStore,
) -> None:
    """The server's run in a new session names the id it made: `new=True`."""
    log = CallLog(store, combined=True)
    events = await _run(log, "s-new", new=True)
    assert log.calls == ["create_with_events", "append"]
    assert {e.session_id for e in events} == {"s-new"}
    session = await store.get(SessionKey("t", "u", "s-new"))
    assert session is not None
    assert [e.type for e in session.events] == [e.type for e in events if not e.partial]


async def test_a_session_named_new_that_exists_goes_on_in_it(store: SessionStore) -> None:
    log = CallLog(store, combined=True)
    await _run(log, "s1")
    log.calls.clear()
    events = await _run(log, "s1", new=True)
    assert log.calls[:2] == ["create_with_events", "get"]
    assert events[0].type == "message.received" and events[0].seq == 4
    session = await store.get(SessionKey("t", "u", "s1"))
    assert session is not None
    assert [e.type for e in session.events].count("message.received") == 2
    assert [e.seq for e in session.events] == list(range(1, 7))


async def test_a_tool_round_trip_is_four_writes_and_the_answer_ends_with_the_run(
    store: SessionStore,
) -> None:
    """One write per point where the caller gets stored events: the user's message (with the
    new session), the tool call, its result, and the answer together with `run.completed`
    (one transaction: a crash cannot store the answer without the run's end)."""

    async def lookup(query: str) -> str:
        """Look something up.

        Args:
            query: what to look up
        """
        return f"found {query}"

    log = CallLog(store, combined=True)
    steps: list[Any] = [tool_call("lookup", '{"query": "x"}'), "done"]
    events = await _run(log, None, LLMAgent(model=ScriptedModel(steps), tools=[lookup]))
    assert log.batches == [
        ["message.received"],
        ["message.completed", "tool.call.started"],
        ["tool.call.completed"],
        ["message.completed", "run.completed"],
    ]
    assert [e.type for e in events if not e.partial] == [t for b in log.batches for t in b]
