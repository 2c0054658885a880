"""Per-kind harnesses for the agent-kind contract suite (tests/contract/test_agent_kinds.py).

Each harness scripts ONE fake upstream (the in-process `FakePlatform`, a real aiohttp server)
in that upstream's own wire format, built from the platform's API reference, not from our
client: Dify's chat-messages stream and stop API, Coze's Chat API v3 and cancel API, DashScope's
application completion stream, and the OpenAI chat-completions stream for the `llm` kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agenthost.backends.agents import BailianAgent, CozeAgent, DifyAgent
from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.backends.models.providers import Provider
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.model_chain import RetryPolicy
from agenthost.ports.protocol import Agent
from tests.unit.backends.agents.fake_platform import (
    FakePlatform,
    Frame,
    Recorded,
    Reply,
    dashscope_frame,
    data_frame,
    event_frame,
)


def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: the city name
    """
    return f"sunny in {city}"


@dataclass
class Kind:
    """How to drive one agent kind against its fake upstream."""

    name: str
    path: str  # the upstream path one turn is sent to
    not_applicable: dict[str, str] = field(default_factory=dict)  # scenario -> why
    known_gaps: dict[str, str] = field(default_factory=dict)  # scenario -> the bug (xfail)
    integration: bool = False  # its tests start subprocesses

    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        raise NotImplementedError

    def reply(self, pieces: list[str], *, tail: list[Frame] | None = None) -> Reply:
        """A streamed reply of `pieces`; `tail` replaces the normal end (BREAK, HANG)."""
        raise NotImplementedError

    def error(self, status: int, *, retry_after: str | None = None) -> Reply:
        """An upstream error answer: 401 (auth), 429 (rate limit), 503."""
        raise NotImplementedError

    def script_stop(self, fake: FakePlatform, *, refuse: bool = False) -> None:
        """Queue the upstream's answer to our stop request (nothing when it has none)."""

    def stop_requests(self, fake: FakePlatform) -> list[Recorded]:
        """The stop requests the fake received, each checked against the platform's docs."""
        return []

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        """The second turn carries the conversation the first one started."""
        raise NotImplementedError

    def script_tool_round_trip(self, fake: FakePlatform) -> None:
        raise NotImplementedError

    @property
    def stops_by_request(self) -> bool:
        return True

    # how the kind answers; the defaults are those of the platform agents
    calls_per_turn: int = 1  # upstream calls one turn makes (a chain of two: 2)
    branches: int = 1  # upstream calls that fail on their own (a parallel of two: 2)
    pauses_between_tries: bool = True  # its waits between tries are `_platform.pause`
    keeps_cut_off: bool = True  # a cut-off reply is kept as an incomplete message
    timeout_code: str = "platform.timeout"  # the error code of a silent upstream

    def runner_options(self) -> dict[str, Any]:
        """What the Runner needs besides the agent (the host's tools)."""
        return {}

    def answer(self, text: str) -> str:
        """The run's final answer when every upstream call answered `text`."""
        return text

    async def aclose(self) -> None:
        """Close what `agent()` made that the agent does not close itself."""


# ---- Dify ------------------------------------------------------------------------------------


def _dify(event: str, **fields: Any) -> bytes:
    ids = {"task_id": "t1", "message_id": "m1", "conversation_id": "c1", "created_at": 1}
    return data_frame({"event": event, **ids, **fields})


@dataclass
class DifyKind(Kind):
    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        return DifyAgent(base_url=fake.base_url + "/v1", api_key="app-test", **options)

    def reply(self, pieces: list[str], *, tail: list[Frame] | None = None) -> Reply:
        frames: list[Frame] = [_dify("message", answer=p) for p in pieces]
        usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_price": "0", "currency": "USD"}
        end: list[Frame] = [_dify("message_end", metadata={"usage": usage})]
        return Reply(frames=frames + (tail if tail is not None else end))

    def error(self, status: int, *, retry_after: str | None = None) -> Reply:
        codes = {401: "unauthorized", 429: "too_many_requests", 503: "internal_server_error"}
        body = {"code": codes.get(status, "error"), "message": "upstream says no", "status": status}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(status=status, body=body, headers=headers)

    def script_stop(self, fake: FakePlatform, *, refuse: bool = False) -> None:
        answer = {"code": "not_found", "message": "task not found"} if refuse else None
        reply = Reply(status=404, body=answer) if refuse else Reply(body={"result": "success"})
        fake.add("/v1/chat-messages/t1/stop", reply)

    def stop_requests(self, fake: FakePlatform) -> list[Recorded]:
        stops = fake.calls("/v1/chat-messages/t1/stop")
        for stop in stops:  # POST /chat-messages/:task_id/stop, JSON {"user": ...}
            assert stop.method == "POST" and stop.body == {"user": "u1"}
            assert stop.headers["Authorization"] == "Bearer app-test"
        return stops

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        assert first.body["conversation_id"] == ""
        assert second.body["conversation_id"] == "c1"

    def script_tool_round_trip(self, fake: FakePlatform) -> None:
        thought = {"id": "th1", "position": 1, "thought": "", "tool": "get_weather"}
        fake.add(
            self.path,
            Reply(
                frames=[
                    _dify("agent_thought", **thought, tool_input='{"get_weather": {"city": "P"}}'),
                    _dify("agent_thought", **thought, observation='{"get_weather": "sunny"}'),
                    *self.reply(["It is sunny."]).frames,
                ]
            ),
        )


# ---- Coze ------------------------------------------------------------------------------------

_COZE_IDS = {"conversation_id": "conv1", "bot_id": "b1"}


def _chat(event: str, status: str, **extra: Any) -> bytes:
    payload = {"id": "chat1", **_COZE_IDS, "status": status, **extra}
    return event_frame(f"conversation.chat.{event}", payload)


def _msg(event: str, content: str, type: str = "answer", **extra: Any) -> bytes:
    payload = {"id": extra.pop("id", "msg1"), **_COZE_IDS, "chat_id": "chat1", "role": "assistant"}
    payload.update(type=type, content=content, content_type="text", **extra)
    return event_frame(f"conversation.message.{event}", payload)


_COZE_DONE = event_frame("done", "[DONE]")


@dataclass
class CozeKind(Kind):
    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        coze = {"base_url": fake.base_url, "api_key": "pat-test", "bot_id": "b1"}
        return CozeAgent(**coze, tools=[get_weather], **options)

    def reply(self, pieces: list[str], *, tail: list[Frame] | None = None) -> Reply:
        frames: list[Frame] = [_chat("created", "created"), _chat("in_progress", "in_progress")]
        frames += [_msg("delta", p) for p in pieces]
        usage = {"token_count": 30, "output_count": 10, "input_count": 20}
        end: list[Frame] = [
            _msg("completed", "".join(pieces)),
            _chat("completed", "completed", usage=usage),
            _COZE_DONE,
        ]
        return Reply(frames=frames + (tail if tail is not None else end))

    def error(self, status: int, *, retry_after: str | None = None) -> Reply:
        codes = {401: 4100, 429: 4020, 503: 5000}
        body = {"code": codes.get(status, 4000), "msg": "upstream says no"}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(status=status, body=body, headers=headers)

    def script_stop(self, fake: FakePlatform, *, refuse: bool = False) -> None:
        # Coze answers HTTP 200 with {code, msg, data}; a refusal is a non-zero code
        if refuse:
            body: dict[str, Any] = {"code": 4019, "msg": "chat cannot be canceled"}
        else:
            data = {"id": "chat1", **_COZE_IDS, "status": "canceled"}
            body = {"code": 0, "msg": "", "data": data}
        fake.add("/v3/chat/cancel", Reply(body=body))

    def stop_requests(self, fake: FakePlatform) -> list[Recorded]:
        stops = fake.calls("/v3/chat/cancel")
        for stop in stops:  # POST /v3/chat/cancel, JSON {conversation_id, chat_id}
            assert stop.method == "POST"
            assert stop.body == {"conversation_id": "conv1", "chat_id": "chat1"}
            assert stop.headers["Content-Type"] == "application/json"
            assert stop.headers["Authorization"] == "Bearer pat-test"
        return stops

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        assert first.query == {} and second.query == {"conversation_id": "conv1"}

    def script_tool_round_trip(self, fake: FakePlatform) -> None:
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "P"}'},
        }
        required = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [call]}}
        fake.add(
            self.path,
            Reply(
                frames=[
                    _chat("created", "created"),
                    _chat("requires_action", "requires_action", required_action=required),
                    _COZE_DONE,
                ]
            ),
        )
        fake.add("/v3/chat/submit_tool_outputs", self.reply(["It is sunny."]))


# ---- Bailian (DashScope application API) -------------------------------------------------------


@dataclass
class BailianKind(Kind):
    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        return BailianAgent(
            base_url=fake.base_url + "/api/v1", api_key="sk-test", app_id="app1", **options
        )

    def reply(self, pieces: list[str], *, tail: list[Frame] | None = None) -> Reply:
        def chunk(seq: int, text: str, finish: str) -> bytes:
            output = {"session_id": "s1", "finish_reason": finish, "text": text}
            usage = {"models": [{"model_id": "qwen-max", "input_tokens": 8, "output_tokens": seq}]}
            return dashscope_frame(seq, {"output": output, "usage": usage, "request_id": "r1"})

        frames: list[Frame] = [chunk(i + 1, p, "null") for i, p in enumerate(pieces)]
        end: list[Frame] = [chunk(len(pieces) + 1, "", "stop")]
        return Reply(frames=frames + (tail if tail is not None else end))

    def error(self, status: int, *, retry_after: str | None = None) -> Reply:
        codes = {401: "InvalidApiKey", 429: "Throttling.RateQuota", 503: "ServiceUnavailable"}
        body = {"code": codes.get(status, "InvalidParameter"), "message": "no", "request_id": "r1"}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(status=status, body=body, headers=headers)

    @property
    def stops_by_request(self) -> bool:
        return False  # DashScope has no stop API for apps: closing the stream is the cancel

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        assert "session_id" not in first.body["input"]
        assert second.body["input"]["session_id"] == "s1"


# ---- llm: LLMAgent on an OpenAI-compatible endpoint ----------------------------------------------


_CHUNK = {"id": "x1", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def _openai(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return data_frame({**_CHUNK, "choices": [choice]})


@dataclass
class LLMKind(Kind):
    providers: list[Provider] = field(default_factory=list)
    pauses_between_tries: bool = False  # the model chain's waits are engine/model_chain.py's

    timeout_code: str = "model_timeout"

    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        idle = options.pop("idle_timeout", None)
        retries = options.pop("retries", 2)
        provider = Provider("fake", base_url=fake.base_url + "/v1", idle_timeout=idle or 60.0)
        self.providers.append(provider)  # a ChatModel given to LLMAgent is the caller's
        model = OpenAICompatibleModel("m", provider=provider)
        retry = RetryPolicy(retries=retries, backoff=0.01)
        return LLMAgent(model=model, tools=[get_weather], retry=retry, **options)

    def reply(self, pieces: list[str], *, tail: list[Frame] | None = None) -> Reply:
        frames: list[Frame] = []
        for piece in pieces:
            if frames:  # a pause: text that arrives in one read is one delta (openai_compat.py)
                frames.append(0.001)
            frames.append(_openai({"role": "assistant", "content": piece}))
        usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        end: list[Frame] = [
            _openai({}, "stop"),
            data_frame({**_CHUNK, "choices": [], "usage": usage}),
            b"data: [DONE]\n\n",
        ]
        return Reply(frames=frames + (tail if tail is not None else end))

    def error(self, status: int, *, retry_after: str | None = None) -> Reply:
        body = {"error": {"message": "upstream says no", "type": "error", "code": status}}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(status=status, body=body, headers=headers)

    @property
    def stops_by_request(self) -> bool:
        return False  # an HTTP model call is stopped by closing its connection

    async def aclose(self) -> None:
        while self.providers:
            await self.providers.pop().aclose()

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        said = [m["content"] for m in second.body["messages"] if m["role"] != "system"]
        assert said == ["hi", "Hello", "again"]

    def script_tool_round_trip(self, fake: FakePlatform) -> None:
        call = {"index": 0, "id": "call_1", "type": "function"}
        call["function"] = {"name": "get_weather", "arguments": '{"city": "P"}'}
        fake.add(
            self.path,
            Reply(
                frames=[
                    _openai({"role": "assistant", "tool_calls": [call]}),
                    _openai({}, "tool_calls"),
                    b"data: [DONE]\n\n",
                ]
            ),
            self.reply(["It is sunny."]),
        )


KINDS: list[Kind] = [
    DifyKind("dify", "/v1/chat-messages"),
    CozeKind("coze", "/v3/chat"),
    BailianKind(
        "bailian",
        "/api/v1/apps/app1/completion",
        not_applicable={
            "tool_round_trip": "a Bailian app runs its tools on DashScope; the app stream "
            "reports no tool calls",
            "stop_refused": "DashScope has no stop API for apps (closing the stream cancels)",
        },
    ),
    LLMKind(
        "llm",
        "/v1/chat/completions",
        not_applicable={
            "stop_refused": "a model call has no stop API (closing the connection cancels)",
        },
    ),
]

Factory = Callable[..., Agent]
