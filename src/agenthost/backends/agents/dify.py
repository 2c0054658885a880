"""DifyAgent: a Dify chat, agent or chatflow app, run on Dify.

One run is one `POST {base_url}/chat-messages` in streaming mode. The stream is `data:` lines
whose JSON names the event; they map to results as follows:

    message, agent_message     MessageDelta (the `answer` piece)
    agent_thought              ToolCallStarted when a tool is chosen (`tool`, `tool_input`),
                               ToolCallCompleted when its `observation` arrives; several tools
                               in one thought ("a;b") give one call each
    message_file               an image or file part (by URL) of the final message
    message_replace            replaces the text so far (moderation); already streamed deltas
                               cannot be taken back, the completed message is what counts
    message_end                MessageCompleted (text, files, usage: prompt/completion tokens,
                               cost = total_price when the currency is USD), then RunCompleted
    error                      RunFailed with Dify's status, code and message
    workflow_finished          (chatflow) a failed workflow is reported if no reply follows
    ping, tts_*, node_*, ...   ignored

Dify's `conversation_id` is kept in session state (`<name>.conversation_id`) and sent on the
next turn; when Dify answers 404 "Conversation Not Exists" for it, the agent forgets it and
starts a new conversation (once). `inputs` (constructor) and `ctx.config["inputs"]` (per run)
are merged into Dify's `inputs`; `user` is our user id (or session id: `user_from`); image and
file attachments with a URL are sent as `files` (remote_url).

Cancelling a run (runner.cancel, the caller going away, a timeout) calls
`POST /chat-messages/{task_id}/stop` with `{"user": ...}` before the run ends; Dify answers
`{"result": "success"}`, anything else is logged as a refused stop.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncGenerator, Awaitable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Unpack
from urllib.parse import urljoin, urlparse

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
    checked_user_from,
    close,
    end_user,
    error_fields,
    json_text,
    merged,
    plain_text,
    require,
    retryable_status,
    setting,
)
from agenthost.backends.common.sse import ServerSentEvent
from agenthost.core.messages import FilePart, ImagePart, Part
from agenthost.core.usage import Usage
from agenthost.ports.protocol import (
    HostAPI,
    MessageCompleted,
    MessageDelta,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunResult,
    ToolCallCompleted,
    ToolCallStarted,
)

DEFAULT_BASE_URL = "https://api.dify.ai/v1"

_FILE_TYPES = {"image": "image", "file": "document", "audio": "audio", "video": "video"}
# codes Dify uses for failures of the model behind the app, usually passing
_RETRYABLE_CODES = frozenset({"completion_request_error", "internal_server_error"})


@dataclass(slots=True)
class _DifyTurn(Turn):
    user: str = ""
    files: list[Part] = field(default_factory=list)
    started: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    workflow_error: str | None = None


class DifyAgent(PlatformAgent):
    """A Dify app (chat, agent or chatflow) as an agent.

    `api_key` defaults to $DIFY_API_KEY (the app's key, `app-...`), `base_url` to
    $DIFY_BASE_URL, else Dify cloud. Timeouts are in seconds: `connect_timeout` for connecting,
    `idle_timeout` for the first byte and between two chunks (Dify pings every 10 s),
    `timeout` for the whole turn, `stop_timeout` for the stop call on cancel.
    """

    platform: ClassVar[str] = "Dify"
    kind: ClassVar[str] = "dify"
    key_env: ClassVar[str] = "DIFY_API_KEY"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        name: str = "dify",
        description: str = "",
        inputs: Mapping[str, Any] | None = None,
        user_from: UserFrom = "user_id",
        auto_generate_name: bool = True,
        **options: Unpack[PlatformOptions],
    ) -> None:
        user_from = checked_user_from("Dify", user_from)
        super().__init__(
            name=name,
            api_key=require(api_key, env=self.key_env, param="api_key", platform="Dify"),
            base_url=setting(base_url, "DIFY_BASE_URL", DEFAULT_BASE_URL) or DEFAULT_BASE_URL,
            description=description,
            options=options,
        )
        self.inputs = dict(inputs or {})
        self.user_from = user_from
        self.auto_generate_name = auto_generate_name
        self._chat_url = self.base_url + "/chat-messages"

    # ---- one turn -------------------------------------------------------------------------

    async def _turn(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        user = end_user(ctx, self.user_from)
        turn = _DifyTurn(handle=await self._load_handle(host), user=user)
        deadline = self._deadline()
        inputs = merged(self.inputs, ctx.config.get("inputs"))

        def send(handle: str | None) -> Awaitable[aiohttp.ClientResponse]:
            body = self._body(ctx, user, inputs, handle)
            return self._post(self._chat_url, body, deadline=deadline)

        response, cleared = await self._start(turn, send)
        try:
            if cleared:
                yield cleared
            async with aclosing(self._consume(response, turn, deadline)) as stream:
                async for batch in stream:
                    yield batch
        finally:
            close(response, turn)
            await self._stop_if_running(turn)
        yield turn.final

    def _body(
        self, ctx: RunContext, user: str, inputs: dict[str, Any], handle: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "query": ctx.input.text,
            "inputs": inputs,
            "response_mode": "streaming",
            "user": user,
            "conversation_id": handle or "",
            "auto_generate_name": self.auto_generate_name,
        }
        files = [
            {"type": _FILE_TYPES[a.type], "transfer_method": "remote_url", "url": a.url}
            for a in attachment_urls(ctx)
        ]
        if files:
            body["files"] = files
        return body

    def _stop_request(self, turn: _DifyTurn) -> StopRequest | None:
        if not turn.task_id:
            return None
        url = f"{self._chat_url}/{turn.task_id}/stop"
        return StopRequest(url=url, body={"user": turn.user})

    def _stale_handle(self, error: PlatformError) -> bool:
        return error.status == 404 and "conversation" in error.message.lower()

    def _stop_refusal(self, status: int, body: bytes) -> str | None:
        """Dify answers a stop with {"result": "success"}; anything else is a refusal."""
        refusal = super()._stop_refusal(status, body)
        if refusal is None and error_fields(body).get("result") != "success":
            refusal = f"HTTP {status} without result 'success': {body_text(body)}"
        return refusal

    # ---- the stream -----------------------------------------------------------------------

    def _on_event(self, event: ServerSentEvent, turn: _DifyTurn) -> list[RunResult]:
        data = self._decode(event)
        kind = data.get("event")
        out = self._remember(turn, data.get("conversation_id"))
        if turn.task_id is None and data.get("task_id"):
            turn.task_id = str(data["task_id"])
        if kind == "message" or kind == "agent_message":
            answer = data.get("answer")
            if answer:
                turn.text.append(answer)
                out.append(MessageDelta(text=answer))
        elif kind == "agent_thought":
            out.extend(self._thought(data, turn))
        elif kind == "message_file":
            self._file(data, turn)
        elif kind == "message_replace":
            turn.text = [str(data.get("answer") or "")]
        elif kind == "message_end":
            turn.finish(self._completed(data, turn), RunCompleted())
        elif kind == "error":
            turn.done = turn.stream_over = True
            raise self._stream_error(data)
        elif kind == "workflow_finished":
            result = data.get("data") or {}
            if result.get("status") == "failed":
                turn.workflow_error = str(result.get("error") or "the workflow failed")
        return out

    def _thought(self, data: dict[str, Any], turn: _DifyTurn) -> list[RunResult]:
        tools = [t for t in str(data.get("tool") or "").split(";") if t]
        if not tools:
            return []
        thought = str(data.get("id") or data.get("position") or len(turn.started))
        out: list[RunResult] = []
        inputs = _per_tool(data.get("tool_input"), tools)
        for tool in tools:
            call_id = f"{thought}:{tool}"
            if call_id not in turn.started:
                turn.started.add(call_id)
                out.append(
                    ToolCallStarted(
                        tool_call_id=call_id, tool_name=tool, parameters=json_text(inputs[tool])
                    )
                )
        observation = data.get("observation")
        if observation:
            results = _per_tool(observation, tools)
            for tool in tools:
                call_id = f"{thought}:{tool}"
                if call_id not in turn.completed:
                    turn.completed.add(call_id)
                    out.append(
                        ToolCallCompleted(
                            tool_call_id=call_id, tool_name=tool, result=plain_text(results[tool])
                        )
                    )
        return out

    def _file(self, data: dict[str, Any], turn: _DifyTurn) -> None:
        url = data.get("url")
        if not url or data.get("belongs_to", "assistant") != "assistant":
            return
        url = urljoin(self.base_url + "/", str(url))  # tool files come with a relative URL
        mime, _ = mimetypes.guess_type(urlparse(url).path)
        if data.get("type") == "image":
            turn.files.append(ImagePart(url=url, mime_type=mime or "image/png"))
        else:
            turn.files.append(FilePart(url=url, mime_type=mime or "application/octet-stream"))

    def _completed(self, data: dict[str, Any], turn: _DifyTurn) -> MessageCompleted:
        metadata = data.get("metadata") or {}
        message = assistant_message("".join(turn.text), turn.files)
        return MessageCompleted(message=message, usage=_usage(metadata.get("usage") or {}))

    # ---- errors ---------------------------------------------------------------------------

    def _http_error(self, status: int, body: bytes) -> PlatformError:
        if status < 400:
            return PlatformError(
                f"Dify answered HTTP {status} without an event stream: {body_text(body)}",
                code=BAD_RESPONSE,
                retryable=True,
                status=status,
            )
        fields = error_fields(body)
        code = str(fields.get("code") or "")
        message = str(fields.get("message") or body_text(body)).rstrip(".")
        label = f" ({code})" if code else ""
        return PlatformError(
            f"Dify answered HTTP {status}{label}: {message}.{_hint(status, code)}",
            code=HTTP_ERROR,
            retryable=retryable_status(status) or code in _RETRYABLE_CODES,
            status=status,
            platform_code=code or None,
        )

    def _stream_error(self, data: dict[str, Any]) -> PlatformError:
        status = data.get("status")
        code = str(data.get("code") or "")
        message = str(data.get("message") or "no message").rstrip(".")
        status_code = status if isinstance(status, int) else None
        label = f" ({code})" if code else ""
        return PlatformError(
            f"Dify reported an error{label}: {message}.{_hint(status_code or 0, code)}",
            code=PLATFORM_ERROR,
            retryable=(status_code is not None and retryable_status(status_code))
            or code in _RETRYABLE_CODES,
            status=status_code,
            platform_code=code or None,
        )

    def _incomplete(self, turn: _DifyTurn) -> PlatformError:
        if turn.workflow_error is not None:
            return PlatformError(
                f"Dify's workflow failed: {turn.workflow_error}",
                code=PLATFORM_ERROR,
                retryable=False,
            )
        return super()._incomplete(turn)


def _hint(status: int, code: str) -> str:
    if status == 401:
        return " Check DIFY_API_KEY / the app's API key (API Access page of the app)."
    if status == 403:
        return " The API key may not use this app: check DIFY_API_KEY."
    if status == 404:
        return " Check DIFY_BASE_URL (it ends with /v1) and that the app exists."
    if code == "app_unavailable":
        return " Publish the app, and use the key of a chat, agent or chatflow app."
    if code.startswith("provider_") or code == "model_currently_not_support":
        return " Check the model provider's credentials and quota in Dify."
    if status == 429:
        return " Rate limited: slow down or raise the app's limits."
    if status >= 500:
        return " Dify had a server error; try again."
    return ""


def _per_tool(raw: Any, tools: list[str]) -> dict[str, Any]:
    """Dify sends one JSON object keyed by tool name for tool_input/observation; spread it
    over the tools (a value that is not such an object goes to every tool)."""
    value = raw
    if isinstance(raw, str):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
    if isinstance(value, dict) and any(t in value for t in tools):
        return {t: value.get(t, "") for t in tools}
    return dict.fromkeys(tools, value if value is not None else "")


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _usage(usage: dict[str, Any]) -> Usage:
    currency = str(usage.get("currency") or "USD").upper()
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        requests=1,
        cost=_float(usage.get("total_price")) if currency == "USD" else 0.0,
    )
