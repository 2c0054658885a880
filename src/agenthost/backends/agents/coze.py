"""CozeAgent: a published Coze bot, run on Coze (Chat API v3).

One run is `POST {base_url}/v3/chat?conversation_id=...` with `stream: true`; the stream is
classic SSE (`event:` + `data:`). Events map to results as follows:

    conversation.chat.created/in_progress   the chat id (for cancel) and conversation id
    conversation.message.delta (answer)     MessageDelta
    conversation.message.completed
        answer                              MessageCompleted (the last one of the chat carries
                                            the chat's usage)
        function_call                       ToolCallStarted (a tool Coze runs itself)
        tool_output / tool_response         ToolCallCompleted (paired with the oldest open call)
    conversation.chat.requires_action       the bot asks US to run tools: each call is answered
                                            through `host.tools.call(name, arguments)`
                                            (ToolCallStarted/Completed), the outputs go to
                                            `POST /v3/chat/submit_tool_outputs` with
                                            `stream: true`, and the new stream is read on
    conversation.chat.completed             usage (input_count, output_count), RunCompleted
    conversation.chat.failed                RunFailed with `last_error` {code, msg}
    error                                   RunFailed with {code, msg}
    done                                    the end of one stream

The conversation id is kept in session state (`<name>.conversation_id`) and sent on the next
turn; when Coze answers code 4002 (invalid conversation) the agent starts a new one (once).
Cancelling a run calls `POST /v3/chat/cancel` with the JSON body `{"conversation_id", "chat_id"}`
as Coze's API reference documents it (the same two values also go in the query, as the
official Python SDK sends them, so either reading works). Coze answers HTTP 200 with
`{code, msg, data}` also when it refuses: a non-zero `code` is logged as a refused stop.
Cancelling only changes the chat's status on Coze; the stream is closed by us. The tools the
bot may ask for are the run's granted tools: those given here (`tools=`) and the runner's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Unpack

import aiohttp
import orjson

from agenthost.backends.agents._platform import (
    BAD_RESPONSE,
    HTTP_ERROR,
    PLATFORM_ERROR,
    PlatformAgent,
    PlatformError,
    PlatformOptions,
    StopRequest,
    Turn,
    UserFrom,
    assistant_message,
    attachment_urls,
    body_text,
    busy_status,
    checked_user_from,
    close,
    end_user,
    error_fields,
    merged,
    plain_text,
    require,
    retryable_status,
    setting,
)
from agenthost.backends.common.sse import ServerSentEvent
from agenthost.core.errors import HostAPIError
from agenthost.core.usage import Usage
from agenthost.engine.catalog import Catalog, as_tool
from agenthost.ports.protocol import (
    Capabilities,
    HostAPI,
    MessageCompleted,
    MessageDelta,
    Permissions,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunResult,
    ToolCallCompleted,
    ToolCallStarted,
)
from agenthost.ports.tools import Tool, ToolOutput

COM_BASE_URL = "https://api.coze.com"
CN_BASE_URL = "https://api.coze.cn"
DEFAULT_BASE_URL = COM_BASE_URL

# 4009 system busy, 4013 model error, 4016 a chat is running in this conversation,
# 4020 RPM exceeded, 5000 internal error
_RETRYABLE_CODES = frozenset({4009, 4013, 4016, 4020})
_BUSY_CODES = frozenset({4009, 4016, 4020})  # worth another try after a pause
_STALE_CONVERSATION = 4002


@dataclass(slots=True)
class _CozeTurn(Turn):
    user: str = ""
    pending: str | None = None  # the last completed answer, held back to carry the usage
    open_calls: deque[tuple[str, str]] = field(default_factory=deque)  # Coze-side calls
    required: list[dict[str, Any]] | None = None  # tool calls the bot asks us to answer


class CozeAgent(PlatformAgent):
    """A Coze bot as an agent.

    `api_key` (a personal access token) defaults to $COZE_API_KEY, `bot_id` to $COZE_BOT_ID,
    `base_url` to $COZE_BASE_URL, else https://api.coze.com (mainland China: CN_BASE_URL,
    https://api.coze.cn). `custom_variables` (and `ctx.config["custom_variables"]` per run) go
    to the bot; `tools` answer the bot's "requires action" calls, each within `tool_timeout`.
    """

    platform: ClassVar[str] = "Coze"
    kind: ClassVar[str] = "coze"
    key_env: ClassVar[str] = "COZE_API_KEY"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True,
        stateful_session=True,
        interrupt=True,
        multimodal_input=True,
        tool_calling=True,
    )
    permissions: ClassVar[Permissions] = Permissions(tools=True, state=["session"])

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        bot_id: str | None = None,
        name: str = "coze",
        description: str = "",
        custom_variables: Mapping[str, str] | None = None,
        user_from: UserFrom = "user_id",
        tools: Sequence[Any] = (),
        tool_timeout: float | None = 60.0,
        auto_save_history: bool = True,
        **options: Unpack[PlatformOptions],
    ) -> None:
        user_from = checked_user_from("Coze", user_from)
        super().__init__(
            name=name,
            api_key=require(api_key, env=self.key_env, param="api_key", platform="Coze"),
            base_url=setting(base_url, "COZE_BASE_URL", DEFAULT_BASE_URL) or DEFAULT_BASE_URL,
            description=description,
            options=options,
        )
        self.bot_id = require(bot_id, env="COZE_BOT_ID", param="bot_id", platform="Coze")
        self.custom_variables = dict(custom_variables or {})
        self.user_from = user_from
        self.tools: list[Tool] = [as_tool(t) for t in tools]
        self.tool_timeout = tool_timeout
        self.auto_save_history = auto_save_history
        self._chat_url = self.base_url + "/v3/chat"

    def catalog(self) -> Catalog:
        """The tools given here, for the runner to grant (with its own)."""
        catalog = Catalog()
        catalog.add_tools(self.tools)
        return catalog

    # ---- one turn -------------------------------------------------------------------------

    async def _turn(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        user = end_user(ctx, self.user_from)
        turn = _CozeTurn(handle=await self._load_handle(host), user=user)
        deadline = self._deadline()
        body = self._body(ctx, user)

        def send(handle: str | None) -> Awaitable[aiohttp.ClientResponse]:
            params = {"conversation_id": handle} if handle else None
            return self._post(self._chat_url, body, deadline=deadline, params=params)

        response, cleared = await self._start(turn, send)
        try:
            if cleared:
                yield cleared
            while True:
                async with aclosing(self._consume(response, turn, deadline)) as stream:
                    async for batch in stream:
                        yield batch
                if turn.done:
                    break
                calls, turn.required = turn.required, None
                if not calls:
                    raise self._incomplete(turn)
                outputs: list[dict[str, str]] = []
                async with aclosing(self._answer(calls, turn, host, outputs)) as answering:
                    async for batch in answering:
                        yield batch
                turn.stream_over = False
                response = await self._post(
                    self._chat_url + "/submit_tool_outputs",
                    {"tool_outputs": outputs, "stream": True},
                    deadline=deadline,
                    params={"conversation_id": turn.handle or "", "chat_id": turn.task_id or ""},
                )
        finally:
            close(response, turn)
            await self._stop_if_running(turn)
        yield turn.final

    def _body(self, ctx: RunContext, user: str) -> dict[str, Any]:
        text = ctx.input.text
        message: dict[str, Any] = {"role": "user", "type": "question"}
        files = attachment_urls(ctx)
        if files:
            items: list[dict[str, str]] = [{"type": "text", "text": text}] if text else []
            items.extend(
                {"type": "image" if a.type == "image" else "file", "file_url": a.url or ""}
                for a in files
            )
            message.update(content=orjson.dumps(items).decode(), content_type="object_string")
        else:
            message.update(content=text, content_type="text")
        body: dict[str, Any] = {
            "bot_id": self.bot_id,
            "user_id": user,
            "stream": True,
            "auto_save_history": self.auto_save_history,
            "additional_messages": [message],
        }
        variables = merged(self.custom_variables, ctx.config.get("custom_variables"))
        if variables:
            body["custom_variables"] = variables
        return body

    def _stop_request(self, turn: _CozeTurn) -> StopRequest | None:
        if not turn.task_id or not turn.handle:
            return None
        ids = {"conversation_id": turn.handle, "chat_id": turn.task_id}
        return StopRequest(url=self._chat_url + "/cancel", params=ids, body=ids)

    def _stop_refusal(self, status: int, body: bytes) -> str | None:
        """Coze reports a refused cancel as HTTP 200 with a non-zero `code`."""
        refusal = super()._stop_refusal(status, body)
        fields = error_fields(body)
        code = _int(fields.get("code")) if "code" in fields else None
        if refusal is None and code != 0:
            message = fields.get("msg") or body_text(body)
            refusal = (
                f"code {code}: {message}" if code is not None else f"not a Coze answer: {message}"
            )
        return refusal

    def _stale_handle(self, error: PlatformError) -> bool:
        return error.platform_code == str(_STALE_CONVERSATION)

    # ---- answering the bot's tool calls ---------------------------------------------------

    async def _answer(
        self,
        calls: list[dict[str, Any]],
        turn: _CozeTurn,
        host: HostAPI,
        outputs: list[dict[str, str]],
    ) -> AsyncGenerator[list[RunResult], None]:
        """Run the calls of a requires_action (in parallel) and fill `outputs`."""
        wanted: list[tuple[str, str, str, str]] = []  # coze id, our id, name, arguments
        started: list[RunResult] = []
        for call in calls:
            function = call.get("function") or {}
            name = str(function.get("name") or "")
            arguments = function.get("arguments") or "{}"
            arguments = arguments if isinstance(arguments, str) else plain_text(arguments)
            coze_id = str(call.get("id") or "")
            our_id = self._claim_open_call(turn, name)
            if our_id is None:  # not announced by a function_call message: announce it now
                our_id = coze_id
                started.append(
                    ToolCallStarted(tool_call_id=our_id, tool_name=name, parameters=arguments)
                )
            wanted.append((coze_id, our_id, name, arguments))
        if started:
            yield started
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._call(host, name, args)) for _, _, name, args in wanted]
        completed: list[RunResult] = []
        for (coze_id, our_id, name, _), task in zip(wanted, tasks, strict=True):
            output = task.result()
            outputs.append({"tool_call_id": coze_id, "output": output.content})
            completed.append(
                ToolCallCompleted(
                    tool_call_id=our_id,
                    tool_name=name,
                    result=output.content,
                    error=output.content if output.is_error else None,
                )
            )
        yield completed

    @staticmethod
    def _claim_open_call(turn: _CozeTurn, name: str) -> str | None:
        """The id of an announced, unanswered call of tool `name` (removed from the open ones)."""
        for item in turn.open_calls:
            if item[1] == name:
                turn.open_calls.remove(item)
                return item[0]
        return None

    async def _call(self, host: HostAPI, name: str, arguments: str) -> ToolOutput:
        try:
            parsed = orjson.loads(arguments or "{}")
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            return ToolOutput(
                content=f"error: the arguments of {name!r} are not a JSON object", is_error=True
            )
        try:
            return await host.tools.call(name, parsed, timeout=self.tool_timeout)
        except HostAPIError as exc:  # not granted, unknown: tell the bot, go on
            return ToolOutput(content=f"error: {exc.message}", is_error=True)

    # ---- the stream -----------------------------------------------------------------------

    def _on_event(self, event: ServerSentEvent, turn: _CozeTurn) -> list[RunResult]:
        name = event.event
        if name == "done":
            turn.stream_over = True
            return []
        data = self._decode(event)
        if name == "error":
            turn.done = turn.stream_over = True
            raise self._coze_error(data, "reported an error")
        out = self._remember(turn, data.get("conversation_id"))
        if name == "conversation.message.delta":
            if data.get("type") == "answer" and data.get("content_type", "text") == "text":
                content = data.get("content")
                if content:
                    turn.text.append(content)
                    out.append(MessageDelta(text=content))
        elif name == "conversation.message.completed":
            out.extend(self._message(data, turn))
        elif name.startswith("conversation.chat."):
            if data.get("id"):
                turn.task_id = str(data["id"])
            out.extend(self._chat(name, data, turn))
        return out

    def _message(self, data: dict[str, Any], turn: _CozeTurn) -> list[RunResult]:
        kind = data.get("type")
        content = data.get("content")
        if kind == "answer":
            out = self._flush(turn)
            turn.pending = str(content) if content else "".join(turn.text)
            turn.text = []
            return out
        if kind == "function_call":
            out = self._flush(turn)
            name, arguments = _function_call(content)
            call_id = str(data.get("id") or f"call-{len(turn.open_calls)}")
            turn.open_calls.append((call_id, name))
            out.append(ToolCallStarted(tool_call_id=call_id, tool_name=name, parameters=arguments))
            return out
        if kind in ("tool_output", "tool_response") and turn.open_calls:
            out = self._flush(turn)
            call_id, name = turn.open_calls.popleft()
            result = plain_text(content if content is not None else "")
            out.append(ToolCallCompleted(tool_call_id=call_id, tool_name=name, result=result))
            return out
        return []  # verbose, follow_up, question, an echo of our own tool output

    def _chat(self, name: str, data: dict[str, Any], turn: _CozeTurn) -> list[RunResult]:
        if name == "conversation.chat.requires_action":
            required = data.get("required_action") or {}
            calls = (required.get("submit_tool_outputs") or {}).get("tool_calls")
            turn.required = calls if isinstance(calls, list) else []
            turn.stream_over = True
            return self._flush(turn)
        if name == "conversation.chat.completed":
            usage = _usage(data.get("usage"))
            if turn.pending is None and turn.text:
                turn.pending = "".join(turn.text)
            last = self._flush(turn, usage)
            turn.finish(*last, RunCompleted(usage=None if last else usage))
            return []
        if name == "conversation.chat.failed":
            turn.done = turn.stream_over = True
            raise self._coze_error(data.get("last_error") or {}, "failed the chat")
        if name == "conversation.chat.canceled" or data.get("status") == "canceled":
            turn.done = turn.stream_over = True
            raise PlatformError("Coze cancelled the chat.", code=PLATFORM_ERROR, retryable=False)
        return []

    @staticmethod
    def _flush(turn: _CozeTurn, usage: Usage | None = None) -> list[RunResult]:
        if turn.pending is None:
            return []
        text, turn.pending = turn.pending, None
        return [MessageCompleted(message=assistant_message(text), usage=usage)]

    # ---- errors ---------------------------------------------------------------------------

    def _coze_error(self, data: Mapping[str, Any], what: str) -> PlatformError:
        code = _int(data.get("code"))
        message = str(data.get("msg") or data.get("message") or "no message").rstrip(".")
        return PlatformError(
            f"Coze {what} (code {code}): {message}.{_hint(0, code)}",
            code=PLATFORM_ERROR,
            retryable=_retryable(0, code),
            platform_code=str(code),
            busy=_busy(0, code),
        )

    def _http_error(self, status: int, body: bytes) -> PlatformError:
        fields = error_fields(body)
        code = _int(fields.get("code"))
        if status < 400 and not code:
            return PlatformError(
                f"Coze answered HTTP {status} without an event stream: {body_text(body)}",
                code=BAD_RESPONSE,
                retryable=True,
                status=status,
            )
        message = str(fields.get("msg") or fields.get("message") or body_text(body)).rstrip(".")
        label = f", code {code}" if code else ""
        return PlatformError(
            f"Coze refused the request (HTTP {status}{label}): {message}.{_hint(status, code)}",
            code=HTTP_ERROR,
            retryable=_retryable(status, code),
            status=status,
            platform_code=str(code) if code else None,
            busy=_busy(status, code),
        )


def _retryable(status: int, code: int) -> bool:
    return retryable_status(status) or code in _RETRYABLE_CODES or code >= 5000


def _busy(status: int, code: int) -> bool:
    return busy_status(status) or code in _BUSY_CODES or code >= 5000


def _hint(status: int, code: int) -> str:
    if code == 4100 or (status == 401 and not code):
        return (
            " Check COZE_API_KEY: a personal access token of the same site as the base_url "
            "(coze.com or coze.cn)."
        )
    if code == 4101 or (status == 403 and not code):
        return " The token lacks a permission: allow chat and the bot's workspace."
    if code in (4006, 4200) or (status == 404 and not code):
        return " Check COZE_BOT_ID and that the token's workspace owns the bot."
    if code == 4015:
        return " Publish the bot as an API service."
    if _retryable(status, code):
        return " Try again later."
    return ""


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _function_call(content: Any) -> tuple[str, str]:
    """(tool name, JSON arguments) of a function_call message's content."""
    value = content
    if isinstance(content, str):
        try:
            value = orjson.loads(content)
        except orjson.JSONDecodeError:
            return "tool", orjson.dumps({"input": content}).decode()
    if not isinstance(value, dict):
        return "tool", orjson.dumps({"input": value}).decode()
    arguments = value.get("arguments", value.get("parameters", {}))
    name = str(value.get("name") or value.get("plugin_name") or "tool")
    return name, arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()


def _usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    return Usage(
        input_tokens=_int(usage.get("input_count")),
        output_tokens=_int(usage.get("output_count")),
        requests=1,
    )
