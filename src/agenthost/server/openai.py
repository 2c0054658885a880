"""The OpenAI-compatible API: each agent is a "model".

    GET  /v1/models                 the agents, as models
    GET  /v1/models/{model}         one
    POST /v1/chat/completions       run an agent (stream or not)
    POST /v1/responses              the same, as the Responses API

The new message is the LAST message of `messages` (or of `input`), which must be the user's;
earlier messages are not replayed, because the session keeps the history. Which session:

1. the `X-Session-Id` header (created if new; the answer's `X-Session-Id` header says it),
2. for /v1/responses, the session of `previous_response_id`,
3. otherwise a NEW session for every call (a stateless client sending the whole history gets
   only its last message answered: send `X-Session-Id` to keep a conversation).

`user` is what OpenAI says it is: an id of your application's end user. It is neither a
session id nor an agenthost user (the API key says whose sessions these are); it goes into the
run's log records and trace (`end_user`, `enduser.id`).

A reply cut mid-stream is stored with `data.incomplete: true` on its `message.completed`; a
chat completion then has `"incomplete": true` on its message (an agenthost extension: its
`finish_reason` stays what the model said), and a Responses output item has
`"status": "incomplete"` (OpenAI's own field).

Tool calls run inside the agent and are not streamed as `tool_calls`; the assistant's text of
every step is (steps joined by a blank line). Sampling fields (temperature, ...) and
`instructions` are ignored: the agent's config decides them. Usage comes in the final chunk
with `stream_options: {"include_usage": true}`. A run that fails mid-stream sends an error
object (`data: {"error": ...}`, which the SDKs raise) before `data: [DONE]`; the Responses
stream sends `error` then `response.failed`.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path
from starlette.responses import Response

from agenthost.core.errors import InvalidArgument, SessionNotFound
from agenthost.core.events import Event
from agenthost.core.ids import new_session_id
from agenthost.core.messages import Message
from agenthost.engine.runner import Runner
from agenthost.server._openai_text import (
    TextSteps,
    chat_usage,
    chat_user_message,
    check_session_id,
    finish_reason,
    responses_usage,
    responses_user_message,
)
from agenthost.server.auth import Principal
from agenthost.server.errors import ResponseNotFound, error_body, run_failure_status
from agenthost.server.runs import RunChannel, RunRequest, follow
from agenthost.server.schemas import ChatCompletionBody, ResponsesBody
from agenthost.server.sse import DONE, PING, LastChunk, SSEResponse, data_frame, named_frame
from agenthost.server.state import ServerState, State, Who

SessionHeader = Annotated[
    str | None,
    Header(alias="X-Session-Id", max_length=256, description="Continue this session."),
]


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers
    )


# ---- response ids carry their session --------------------------------------------------


def response_id(session_id: str, run_id: str) -> str:
    """`resp_<base64url(session id)>.<run id>`: `previous_response_id` finds its session."""
    encoded = base64.urlsafe_b64encode(session_id.encode()).decode().rstrip("=")
    return f"resp_{encoded}.{run_id}"


def session_of_response(value: str) -> str:
    encoded, sep, run_id = value.removeprefix("resp_").partition(".")
    if not value.startswith("resp_") or not sep or not run_id:
        raise ResponseNotFound(value)
    try:
        session_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        return check_session_id(session_id, "previous_response_id")
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidArgument):
        raise ResponseNotFound(value) from None


# ---- running ------------------------------------------------------------------------------


class _Call:
    """One OpenAI-style call: its agent, session and run."""

    def __init__(
        self, state: ServerState, who: Principal, agent: str, session_id: str, *, new: bool
    ) -> None:
        self.state = state
        self.who = who
        self.agent = agent
        self.runner: Runner = state.runner(agent, field="model")
        self.session_id = session_id
        self.new = new  # session_id was made here, for a new session
        self.created = int(time.time())
        self.channel: RunChannel | None = None

    async def start(self, message: Message, api: str, end_user: str | None = None) -> RunChannel:
        request = RunRequest(
            agent=self.agent,
            user_id=self.who.user_id,
            session_id=self.session_id,
            message=message,
            api=api,
            end_user=end_user,
            new_session=self.new,
        )
        self.channel = await self.state.runs.start(request, self.runner)
        return self.channel

    @property
    def run_id(self) -> str:
        assert self.channel is not None
        return self.channel.run_id

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Session-Id": self.session_id, "X-Run-Id": self.run_id}

    async def events(self, *, ping: bool) -> AsyncGenerator[Event | None, None]:
        frames = follow(
            self.channel,
            runner=self.runner,
            user_id=self.who.user_id,
            session_id=self.session_id,
            run_id=self.run_id,
            ping=self.state.settings.ping_interval if ping else None,
        )
        async for frame in frames:
            yield None if frame is None else frame.event

    async def finished(self) -> tuple[TextSteps, Event | None]:
        """Wait for the run's end: its text steps and terminal event."""
        steps = TextSteps()
        terminal: Event | None = None
        async for event in self.events(ping=False):
            if event is None or event.partial:
                continue
            steps.feed(event)
            if event.is_terminal:
                terminal = event
        return steps, terminal

    def failure(self, terminal: Event | None) -> Response | None:
        """The HTTP error of a run that did not complete (None when it completed)."""
        if terminal is not None and terminal.type == "run.completed":
            return None
        error = terminal.error if terminal is not None else None
        code = error.code if error is not None else "server_error"
        message = error.message if error is not None else "The run ended without an outcome."
        status = run_failure_status(code)
        retryable = error.retryable if error is not None else False
        body = error_body(code, message, status=status, retryable=retryable)
        return _json(body, status, self.headers)


def _stream_error(terminal: Event) -> dict[str, Any]:
    error = terminal.error
    return {
        "error": {
            "message": error.message if error else "the run failed",
            "type": "server_error",
            "code": error.code if error else "server_error",
            "param": None,
        }
    }


# ---- chat completions ----------------------------------------------------------------------


async def chat_chunks(call: _Call, include_usage: bool) -> AsyncGenerator[bytes, None]:
    base: dict[str, Any] = {
        "id": "chatcmpl-" + call.run_id.removeprefix("run_"),
        "object": "chat.completion.chunk",
        "created": call.created,
        "model": call.agent,
        "system_fingerprint": None,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            payload["usage"] = None
        return data_frame(payload)

    yield chunk({"role": "assistant", "content": ""})
    steps = TextSteps()
    async for event in call.events(ping=True):
        if event is None:
            yield PING
            continue
        for action, text in steps.feed(event):
            if action == "open" and steps.texts:
                yield chunk({"content": "\n\n"})
            elif action == "delta":
                yield chunk({"content": text})
        if event.is_terminal:
            if event.type == "run.completed":
                yield chunk({}, finish_reason(event))
                if include_usage:
                    yield data_frame({**base, "choices": [], "usage": chat_usage(event.usage)})
            else:
                yield data_frame(_stream_error(event))
            yield LastChunk(DONE)  # with the body's end, in one write


def chat_completion(call: _Call, steps: TextSteps, terminal: Event) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + call.run_id.removeprefix("run_"),
        "object": "chat.completion",
        "created": call.created,
        "model": call.agent,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": _chat_message(steps),
                "logprobs": None,
                "finish_reason": finish_reason(terminal),
            }
        ],
        "usage": chat_usage(terminal.usage),
    }


def _chat_message(steps: TextSteps) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": steps.text, "refusal": None}
    if any(steps.incomplete):
        message["incomplete"] = True
    return message


# ---- responses -----------------------------------------------------------------------------


class _ResponseBuilder:
    """The Responses API's objects and stream events for one run."""

    def __init__(self, call: _Call, previous: str | None) -> None:
        self.call = call
        self.id = response_id(call.session_id, call.run_id)
        self.previous = previous
        self.items: list[dict[str, Any]] = []
        self.sequence = 0
        self._item: dict[str, Any] | None = None

    def response(self, status: str, terminal: Event | None = None) -> dict[str, Any]:
        error = None
        if terminal is not None and terminal.type != "run.completed" and terminal.error:
            error = {"code": terminal.error.code, "message": terminal.error.message}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.call.created,
            "status": status,
            "model": self.call.agent,
            "output": list(self.items),
            "error": error,
            "incomplete_details": None,
            "instructions": None,
            "metadata": {},
            "parallel_tool_calls": False,
            "previous_response_id": self.previous,
            "temperature": None,
            "top_p": None,
            "tool_choice": "auto",
            "tools": [],
            "text": {"format": {"type": "text"}},
            "usage": responses_usage(terminal.usage) if terminal is not None else None,
        }

    def event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return named_frame(kind, payload)

    def item_events(self, action: str, text: str, incomplete: bool = False) -> list[bytes]:
        index = len(self.items)
        if action == "open":
            item_id = f"msg_{self.call.run_id.removeprefix('run_')}_{index}"
            self._item = {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            part = {"type": "output_text", "text": "", "annotations": []}
            return [
                self.event("response.output_item.added", output_index=index, item=self._item),
                self.event(
                    "response.content_part.added",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    part=part,
                ),
            ]
        assert self._item is not None
        item_id = self._item["id"]
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        if action == "delta":
            return [self.event("response.output_text.delta", **where, delta=text, logprobs=[])]
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        status = "incomplete" if incomplete else "completed"
        item = {**self._item, "status": status, "content": [part]}
        self.items.append(item)
        self._item = None
        return [
            self.event("response.output_text.done", **where, text=text, logprobs=[]),
            self.event("response.content_part.done", **where, part=part),
            self.event("response.output_item.done", output_index=index, item=item),
        ]

    def feed_all(self, steps: TextSteps) -> None:
        for text, incomplete in zip(steps.texts, steps.incomplete, strict=True):
            self.item_events("open", "")
            self.item_events("close", text, incomplete)


async def response_events(call: _Call, builder: _ResponseBuilder) -> AsyncGenerator[bytes, None]:
    yield builder.event("response.created", response=builder.response("in_progress"))
    yield builder.event("response.in_progress", response=builder.response("in_progress"))
    steps = TextSteps()
    async for event in call.events(ping=True):
        if event is None:
            yield PING
            continue
        for action, text in steps.feed(event):
            for frame in builder.item_events(action, text):
                yield frame
        if event.is_terminal:
            if event.type == "run.completed":
                response = builder.response("completed", event)
                yield LastChunk(builder.event("response.completed", response=response))
            else:
                error = _stream_error(event)["error"]
                yield builder.event(
                    "error", code=error["code"], message=error["message"], param=None
                )
                failed = builder.response("failed", event)
                yield LastChunk(builder.event("response.failed", response=failed))


# ---- routes --------------------------------------------------------------------------------


api = APIRouter(prefix="/v1", tags=["openai"])


def model_object(state: ServerState, name: str) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": int(state.started_at),
        "owned_by": "agenthost",
    }


@api.get("/models", summary="The agents, as models")
async def list_models(who: Who, state: State) -> Response:
    return _json({"object": "list", "data": [model_object(state, n) for n in state.runners]})


@api.get("/models/{model}", summary="One agent, as a model")
async def get_model(
    who: Who, state: State, model: Annotated[str, Path(max_length=256)]
) -> Response:
    state.runner(model, field="model")
    return _json(model_object(state, model))


@api.post("/chat/completions", summary="Run an agent as a chat model")
async def chat_completions(
    who: Who, state: State, body: ChatCompletionBody, x_session_id: SessionHeader = None
) -> Response:
    if body.n not in (None, 1):
        raise InvalidArgument("n", "only n=1 is supported")
    message = chat_user_message(body.messages)
    session_id, new = _session(x_session_id)
    call = _Call(state, who, body.model, session_id, new=new)
    await call.start(message, "openai.chat", body.user)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        frames = chat_chunks(call, include_usage)
        policy = body.on_disconnect or state.settings.on_disconnect
        return SSEResponse(
            frames, headers=call.headers, on_left=state.runs.on_left(call.channel, policy)
        )
    steps, terminal = await call.finished()
    failed = call.failure(terminal)
    if failed is not None:
        return failed
    assert terminal is not None
    return _json(chat_completion(call, steps, terminal), headers=call.headers)


@api.post("/responses", summary="Run an agent through the Responses API")
async def responses(
    who: Who, state: State, body: ResponsesBody, x_session_id: SessionHeader = None
) -> Response:
    message = responses_user_message(body.input)
    runner = state.runner(body.model, field="model")
    if x_session_id is None and body.previous_response_id is not None:
        session_id = session_of_response(body.previous_response_id)
        try:
            await runner.get_session(who.user_id, session_id)
        except SessionNotFound:
            raise ResponseNotFound(body.previous_response_id) from None
        call = _Call(state, who, body.model, session_id, new=False)
    else:
        session_id, new = _session(x_session_id)
        call = _Call(state, who, body.model, session_id, new=new)
    await call.start(message, "openai.responses", body.user)
    builder = _ResponseBuilder(call, body.previous_response_id)
    if body.stream:
        frames = response_events(call, builder)
        policy = body.on_disconnect or state.settings.on_disconnect
        return SSEResponse(
            frames, headers=call.headers, on_left=state.runs.on_left(call.channel, policy)
        )
    steps, terminal = await call.finished()
    failed = call.failure(terminal)
    if failed is not None:
        return failed
    builder.feed_all(steps)
    payload = builder.response("completed", terminal)
    payload["output_text"] = steps.text
    return _json(payload, headers=call.headers)


def router(state: ServerState) -> APIRouter:
    """The OpenAI-compatible API (the handlers find the state through the request)."""
    return api


def _session(header: str | None) -> tuple[str, bool]:
    """The session id and whether it is new: made here (no header), never one a client named."""
    if header is not None:
        return check_session_id(header, "X-Session-Id"), False
    return new_session_id(), True
