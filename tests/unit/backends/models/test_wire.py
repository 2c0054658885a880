"""Encoding our messages to the OpenAI wire format, and the encoding cache."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agenthost.backends.models import _wire
from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.core.errors import InvalidArgument
from agenthost.core.messages import (
    FilePart,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from agenthost.testing.fake_openai import FakeOpenAIServer

CALL = ToolCallPart(id="c1", name="get_weather", arguments='{"city": "Oslo"}')


def test_system_user_assistant() -> None:
    assert _wire.encode_message(Message.system("be nice")) == [
        {"role": "system", "content": "be nice"}
    ]
    assert _wire.encode_message(Message.user("hi")) == [{"role": "user", "content": "hi"}]
    assert _wire.encode_message(Message.assistant("hello")) == [
        {"role": "assistant", "content": "hello"}
    ]


def test_one_part_messages_take_a_short_path_to_the_same_wire_form() -> None:
    result = ToolResultPart(tool_call_id="c1", name="get_weather", content="sunny")
    image = ImagePart(url="https://example.com/a.png", mime_type="image/png")
    for role in ("system", "user", "assistant", "tool"):
        for part in (TextPart(text="hi"), TextPart(text=""), result, CALL, image):
            message = Message(role=role, parts=(part,))  # type: ignore[arg-type]
            assert _wire.encode_message(message) == _wire._encode_parts(message), (role, part)


def test_assistant_with_tool_calls() -> None:
    wire = _wire.encode_message(Message.assistant("", (CALL,)))
    assert wire == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        }
    ]
    with_text = _wire.encode_message(Message.assistant("Checking.", (CALL,)))
    assert with_text[0]["content"] == "Checking."


def test_tool_results_become_tool_messages() -> None:
    results = (
        ToolResultPart(tool_call_id="c1", name="a", content="sunny"),
        ToolResultPart(tool_call_id="c2", name="b", content="boom", is_error=True),
    )
    wire = _wire.encode_message(Message(role="tool", parts=results))
    assert wire == [
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "boom"},
    ]


def test_images_and_files() -> None:
    message = Message(
        role="user",
        parts=(
            TextPart(text="What is this?"),
            ImagePart(data=b"\x89PNG", mime_type="image/png"),
            ImagePart(url="https://example.com/cat.jpg"),
            FilePart(data=b"%PDF", mime_type="application/pdf", name="a.pdf"),
        ),
    )
    (wire,) = _wire.encode_message(message)
    assert wire["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {
            "type": "file",
            "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERg=="},
        },
    ]


def test_file_by_url_is_refused_clearly() -> None:
    message = Message(role="user", parts=(FilePart(url="https://x/y.pdf"),))
    with pytest.raises(InvalidArgument, match="cannot fetch a file by URL"):
        _wire.encode_message(message)


async def test_history_reaches_the_server_intact(
    server: FakeOpenAIServer, model: OpenAICompatibleModel
) -> None:
    history = [
        Message.system("sys"),
        Message.user("weather?"),
        Message.assistant("", (CALL,)),
        Message.tool(ToolResultPart(tool_call_id="c1", name="get_weather", content="sunny")),
        Message(role="user", parts=(TextPart(text="and this"), ImagePart(data=b"img"))),
    ]
    await model.request(history)
    sent = server.bodies[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert sent[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[3] == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
    assert sent[4]["content"][1]["image_url"]["url"] == "data:image/png;base64,aW1n"


def counting(monkeypatch: pytest.MonkeyPatch) -> list[Message]:
    encoded: list[Message] = []
    original = _wire.encode_message

    def spy(message: Message) -> list[dict[str, Any]]:
        encoded.append(message)
        return original(message)

    monkeypatch.setattr(_wire, "encode_message", spy)
    return encoded


async def test_old_messages_are_not_re_encoded(
    server: FakeOpenAIServer, model: OpenAICompatibleModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded = counting(monkeypatch)
    history = [Message.system("sys"), Message.user("one")]
    await model.request(history)
    assert len(encoded) == 2
    history += [Message.assistant("reply"), Message.user("two")]
    await model.request(history)
    assert encoded[2:] == history[2:]  # only the two new ones
    await collect_text(model, history)
    assert len(encoded) == 4
    assert server.bodies[-1]["messages"][-1] == {"role": "user", "content": "two"}
    # an equal but distinct message is encoded on its own (the cache is by identity)
    await model.request([Message.user("two")])
    assert len(encoded) == 5


async def collect_text(model: OpenAICompatibleModel, history: list[Message]) -> str:
    return "".join([str(e) async for e in model.stream(history)])


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_wire, "MAX_ENTRIES", 10)
    encoded = counting(monkeypatch)
    messages = [Message.user(str(i)) for i in range(25)]
    fragments = _wire.wire_messages(messages)
    assert len(_wire._cache) <= 10
    assert [orjson.loads(orjson.dumps(f)) for f in fragments] == [
        {"role": "user", "content": str(i)} for i in range(25)
    ]
    _wire.wire_messages(messages[-3:])  # recent ones are still cached
    assert len(encoded) == 25
    _wire.wire_messages(messages[:1])  # the oldest was evicted
    assert len(encoded) == 26


def decoded(messages: list[Message]) -> list[Any]:
    result: list[Any] = orjson.loads(orjson.dumps(_wire.wire_messages(messages)))
    return result


def test_prefix_reuse_follows_changes_to_the_history() -> None:
    history = [Message.system("s"), Message.user("one")]
    assert decoded(history)[-1] == {"role": "user", "content": "one"}
    history.append(Message.assistant("two"))
    assert [m["content"] for m in decoded(history)] == ["s", "one", "two"]
    history[1] = Message.user("edited")  # e.g. compaction rewrote an old message in place
    history.append(Message.user("three"))
    assert [m["content"] for m in decoded(history)] == ["s", "edited", "two", "three"]
    assert [m["content"] for m in decoded(history[:2])] == ["s", "edited"]
    assert decoded(tuple(history)) == decoded(history)  # type: ignore[arg-type]
    assert decoded([]) == []


def _turn_message(i: int) -> Message:
    if i % 3 == 0:
        return Message.user(f"What is new? {i}")
    if i % 3 == 1:
        call = ToolCallPart(id=f"call_{i:08d}", name="search", arguments='{"query": "fake"}')
        return Message.assistant("", (call,))
    result = ToolResultPart(tool_call_id=f"call_{i:08d}", name="search", content=f"a, b, c {i}")
    return Message.tool(result)


def test_cache_is_bounded_by_the_memory_it_really_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages only the cache keeps alive (a finished session on SQLite) count too."""
    import gc
    import tracemalloc

    budget = 1024 * 1024
    monkeypatch.setattr(_wire, "MAX_BYTES", budget)
    _wire.wire_messages([_turn_message(0)])  # imports and first-call allocations
    _wire.clear_cache()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            _wire.wire_messages([_turn_message(i)])
        _wire._prefixes.clear()  # measure the message cache alone
        _wire._prefix_items = 0
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0 < len(_wire._cache) < 20_000  # it evicted
    assert _wire._cache_bytes <= budget
    assert held <= budget  # the estimate is not below what the entries really hold


def test_cached_json_is_exactly_sized() -> None:
    """orjson returns bytes holding a 4 KB block; the cache keeps a right-sized copy."""
    import tracemalloc

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            _wire.wire_messages([Message.user(f"hi {i}")])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(_wire._cache) == 1000
    assert held < 1000 * 1024  # 4 KB per message before the copy


def test_prefix_cache_is_bounded_by_items(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_wire, "MAX_PREFIX_ITEMS", 100)
    histories = [[Message.user(f"{i}"), Message.assistant(f"{i}")] for i in range(80)]
    for history in histories:
        _wire.wire_messages(history)
    assert 0 < len(_wire._prefixes) < 80
    assert _wire._prefix_items == sum(len(v[0]) for v in _wire._prefixes.values()) <= 100
    _wire.wire_messages(histories[-1] + [Message.user("next")])  # the newest prefix is reused
    assert _wire._prefix_items == sum(len(v[0]) for v in _wire._prefixes.values())
