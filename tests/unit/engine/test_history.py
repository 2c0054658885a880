from __future__ import annotations

from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message, ToolCallPart
from agenthost.core.session import Session
from agenthost.engine.history import HistoryCache, window


def ev(kind: str, message: Message, seq: int) -> Event:
    return Event(id=new_id(), run_id="r", author="a", type=kind, message=message, seq=seq)  # type: ignore[arg-type]


def _with_open_call() -> Session:
    """A session whose last event is a tool call without its result."""
    session = Session(app="a", user_id="u", id="s")
    session.events.append(ev("message.received", Message.user("hi"), 1))
    call = ToolCallPart(id="c1", name="t", arguments="{}")
    session.events.append(ev("message.completed", Message.assistant("", (call,)), 2))
    return session


def test_incremental_and_closes_dangling_tool_calls() -> None:
    session = _with_open_call()
    cache = HistoryCache()
    first = cache.messages(session)
    assert [m.role for m in first] == ["user", "assistant", "tool"]  # closed only in the copy
    session.events.append(ev("message.received", Message.user("again"), 3))
    second = cache.messages(session)
    assert [m.role for m in second] == ["user", "assistant", "tool", "user"]
    assert "no result" in second[2].parts[0].content  # type: ignore[union-attr]


def test_window_starts_at_a_user_message() -> None:
    msgs = [
        Message.user("1"),
        Message.assistant("a"),
        Message.user("2"),
        Message.assistant("b"),
        Message.user("3"),
    ]
    assert [m.text for m in window(msgs, max_messages=4, max_tokens=None)] == ["2", "b", "3"]
    assert [m.text for m in window(msgs, max_messages=None, max_tokens=5)] == ["3"]
    assert window(msgs, max_messages=None, max_tokens=None) == msgs


def _session(i: int, text: str = "hi") -> Session:
    session = Session(app="a", user_id="u", id=f"s{i}")
    session.events.append(ev("message.received", Message.user(text), 1))
    return session


def test_cache_is_bounded_by_sessions() -> None:
    cache = HistoryCache(max_sessions=10)
    sessions = [_session(i) for i in range(25)]
    for session in sessions:
        assert [m.text for m in cache.messages(session)] == ["hi"]
    assert len(cache) == 10
    cache.forget(sessions[-1].key)
    assert len(cache) == 9


def test_cache_is_bounded_by_bytes() -> None:
    """Few sessions with big histories: the byte bound evicts before the count bound."""
    cache = HistoryCache(max_sessions=1000, max_bytes=1_000_000)
    sessions = [_session(i, "x" * 100_000) for i in range(30)]
    for session in sessions:
        assert cache.messages(session)[0].text == "x" * 100_000
    assert 0 < len(cache) < 30
    assert cache.size <= 1_000_000
    big = _session(99, "y" * 2_000_000)  # larger than the bound alone: served, not kept
    assert cache.messages(big)[0].text == "y" * 2_000_000
    assert cache.size <= 1_000_000


def test_messages_and_view_agree_and_an_unchanged_session_is_not_converted_again() -> None:
    session = _with_open_call()
    cache = HistoryCache()
    view = cache.view(session)
    assert view.messages == cache.messages(session)
    assert view.seqs == [1, 2, 2]  # the closing result has its call's seq
    entry = cache._entries[session.key]
    size = cache.size
    again = cache.messages(session)
    assert again == view.messages and again is not view.messages  # a fresh list each time
    assert cache._entries[session.key] is entry and cache.size == size
    assert [m.role for m in entry.messages] == ["user", "assistant"]  # closed only in copies
    session.events.append(ev("message.received", Message.user("more"), 3))
    assert [m.text for m in cache.messages(session)][-1] == "more"
    assert cache._entries[session.key] is entry and cache.size > size


def test_a_session_replaced_by_another_of_the_same_length_is_converted_anew() -> None:
    cache = HistoryCache()
    first = _session(1, "old")
    assert [m.text for m in cache.messages(first)] == ["old"]
    second = _session(1, "new")  # the same key, other events (deleted and made again)
    assert [m.text for m in cache.messages(second)] == ["new"]
    empty = Session(app="a", user_id="u", id="s1")
    assert cache.messages(empty) == []
    assert [m.text for m in cache.messages(second)] == ["new"]
