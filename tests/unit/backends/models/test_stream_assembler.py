"""StreamAssembler: the payloads of one read become deltas, consecutive text joined."""

from __future__ import annotations

import orjson
import pytest

from agenthost.backends.models._decode import StreamAssembler
from agenthost.core.errors import ModelResponseError
from agenthost.ports.models import TextDelta, ToolCallDelta


def text(piece: str) -> str:
    return orjson.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}).decode()


def call(index: int, arguments: str, id: str | None = None, name: str | None = None) -> str:
    function = {"arguments": arguments} | ({"name": name} if name else {})
    piece = {"index": index, "function": function} | ({"id": id} if id else {})
    return orjson.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]}).decode()


FINISH = orjson.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}).decode()
USAGE = orjson.dumps({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})


def test_text_of_one_read_is_one_delta_equal_to_its_pieces() -> None:
    state = StreamAssembler(name="m", price=None)
    pieces = ["The", " quick", " brown", " é🦊"]
    deltas, failure = state.feed_all([text(p) for p in pieces])
    assert failure is None and deltas == [TextDelta("The quick brown é🦊")]
    deltas, failure = state.feed_all([text(" jumps"), FINISH, USAGE.decode(), "[DONE]"])
    assert deltas == [TextDelta(" jumps")] and failure is None
    response = state.finish()
    assert response.message.text == "The quick brown é🦊 jumps"
    assert response.finish_reason == "stop" and response.usage.input_tokens == 7


def test_tool_call_deltas_are_kept_as_they_came_and_split_the_text() -> None:
    state = StreamAssembler(name="m", price=None)
    payloads = [
        text("Let me "),
        text("check."),
        call(0, "", id="c1", name="get_weather"),
        call(0, '{"city":'),
        call(0, '"Paris"}'),
        text("More"),
        text(" text"),
        FINISH,
    ]
    deltas, failure = state.feed_all(payloads)
    assert failure is None
    assert deltas == [
        TextDelta("Let me check."),
        ToolCallDelta(index=0, id="c1", name="get_weather", arguments=""),
        ToolCallDelta(index=0, arguments='{"city":'),
        ToolCallDelta(index=0, arguments='"Paris"}'),
        TextDelta("More text"),
    ]
    (tool_call,) = state.finish().message.tool_calls
    assert tool_call.parsed_arguments() == {"city": "Paris"}


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ('{"choices": [', "invalid JSON in stream"),
        ('{"choices": [{"index": 0, "delta": {"content": 5}}]}', "unexpected chunk shape"),
        ('{"error": {"message": "overloaded"}}', "error in stream"),
    ],
)
def test_a_broken_payload_stops_after_the_deltas_before_it(broken: str, message: str) -> None:
    # a payload broken after its text: that text is not given out either
    half = orjson.dumps(
        {"choices": [{"index": 0, "delta": {"content": "lost", "tool_calls": [7]}}]}
    ).decode()
    for bad in (broken, half):
        state = StreamAssembler(name="m", price=None)
        deltas, failure = state.feed_all([text("shown"), text(" too"), bad, text("never")])
        assert deltas == [TextDelta("shown too")]
        assert isinstance(failure, ModelResponseError)
        if bad is broken:
            assert message in failure.message
        else:
            assert "unexpected chunk shape" in failure.message
        if "error in stream" not in failure.message:
            assert failure.__cause__ is not None
