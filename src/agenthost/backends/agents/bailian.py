"""BailianAgent: an Alibaba Cloud Model Studio (Bailian) application, run on DashScope.

One run is `POST {base_url}/apps/{app_id}/completion` with `X-DashScope-SSE: enable` and
`parameters.incremental_output: true`. The stream is DashScope SSE (`id:`, `event:result` or
`event:error`, a `:HTTP_STATUS/<code>` comment, `data:`); each `data` is
`{output: {text, finish_reason, session_id}, usage: {models: [...]}, request_id}`:

    output.text                  MessageDelta (a piece: incremental_output is on)
    finish_reason "stop"         MessageCompleted (the whole text; usage = the sum of
    (anything but "null")        usage.models input/output tokens), RunCompleted
    event:error                  RunFailed with DashScope's {code, message, request_id}

HTTP errors are JSON `{code, message, request_id}` (InvalidApiKey, InvalidParameter,
Throttling..., InternalError...) and become RunFailed; throttling and internal errors are
retryable. `output.session_id` is kept in session state (`<name>.session_id`) and sent as
`input.session_id` on the next turn (DashScope keeps the history on its side).

Cancellation: DashScope has no stop endpoint for application calls. Closing the stream is the
cancel: an unfinished response's connection is closed, and DashScope stops streaming to it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar, Literal, Unpack

from agenthost.backends.agents._platform import (
    BAD_RESPONSE,
    HTTP_ERROR,
    PLATFORM_ERROR,
    PlatformAgent,
    PlatformError,
    PlatformOptions,
    Turn,
    assistant_message,
    attachment_urls,
    body_text,
    busy_status,
    close,
    error_fields,
    merged,
    require,
    retryable_status,
    setting,
)
from agenthost.backends.common.sse import ServerSentEvent
from agenthost.core.errors import ConfigError
from agenthost.core.usage import Usage
from agenthost.ports.protocol import (
    HostAPI,
    MessageCompleted,
    MessageDelta,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunResult,
)

Region = Literal["cn", "intl"]
REGION_BASE_URLS: dict[str, str] = {
    "cn": "https://dashscope.aliyuncs.com/api/v1",
    "intl": "https://dashscope-intl.aliyuncs.com/api/v1",
}
_RETRYABLE_PREFIXES = (
    "Throttling",
    "InternalError",
    "SystemError",
    "ServiceUnavailable",
    "RequestTimeOut",
)


def base_url_for(region: str | None, base_url: str | None = None) -> str:
    """The API base, by the one precedence rule: `base_url` (argument or config), else
    $BAILIAN_BASE_URL, else the region's (cn: dashscope.aliyuncs.com, intl:
    dashscope-intl.aliyuncs.com), else cn. `region` picks the default; an explicit URL wins."""
    if region is not None and region not in REGION_BASE_URLS:
        raise ConfigError(
            f"Bailian agent: region must be one of {sorted(REGION_BASE_URLS)}, got "
            f"{region!r} (or pass base_url)."
        )
    default = REGION_BASE_URLS[region or "cn"]
    return setting(base_url, "BAILIAN_BASE_URL", default) or default


class BailianAgent(PlatformAgent):
    """A Bailian (DashScope) application as an agent.

    `api_key` defaults to $DASHSCOPE_API_KEY, `app_id` to $BAILIAN_APP_ID. Keys are per region:
    `region="intl"` for the Singapore site, `base_url` for anything else. `biz_params` (and
    `ctx.config["biz_params"]` per run) go to the app's parameters; `parameters` adds DashScope
    request parameters (e.g. `has_thoughts`, `rag_options`).
    """

    platform: ClassVar[str] = "Bailian"
    kind: ClassVar[str] = "bailian"
    key_env: ClassVar[str] = "DASHSCOPE_API_KEY"
    handle_name: ClassVar[str] = "session_id"

    def __init__(
        self,
        *,
        app_id: str | None = None,
        api_key: str | None = None,
        region: Region | None = None,
        base_url: str | None = None,
        name: str = "bailian",
        description: str = "",
        biz_params: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        **options: Unpack[PlatformOptions],
    ) -> None:
        super().__init__(
            name=name,
            api_key=require(api_key, env=self.key_env, param="api_key", platform="Bailian"),
            base_url=base_url_for(region, base_url),
            description=description,
            options=options,
            headers={"X-DashScope-SSE": "enable"},
        )
        self.app_id = require(app_id, env="BAILIAN_APP_ID", param="app_id", platform="Bailian")
        self.region = region
        self.biz_params = dict(biz_params or {})
        self.parameters = dict(parameters or {})
        self._url = f"{self.base_url}/apps/{self.app_id}/completion"

    # ---- one turn -------------------------------------------------------------------------

    async def _turn(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        turn = Turn(handle=await self._load_handle(host))
        deadline = self._deadline()
        response = await self._post(self._url, self._body(ctx, turn.handle), deadline=deadline)
        try:
            async with aclosing(self._consume(response, turn, deadline)) as stream:
                async for batch in stream:
                    yield batch
        finally:
            close(response, turn)  # an unfinished stream is closed: that is the cancel
        yield turn.final

    def _body(self, ctx: RunContext, handle: str | None) -> dict[str, Any]:
        source: dict[str, Any] = {"prompt": ctx.input.text}
        if handle:
            source["session_id"] = handle
        biz_params = merged(self.biz_params, ctx.config.get("biz_params"))
        if biz_params:
            source["biz_params"] = biz_params
        images = [a.url for a in attachment_urls(ctx, kinds=("image",))]
        if images:
            source["image_list"] = images
        return {"input": source, "parameters": {**self.parameters, "incremental_output": True}}

    # ---- the stream -----------------------------------------------------------------------

    def _on_event(self, event: ServerSentEvent, turn: Turn) -> list[RunResult]:
        data = self._decode(event)
        if event.event == "error" or ("code" in data and "output" not in data):
            turn.done = turn.stream_over = True
            raise self._error(data, None, "reported an error")
        output = data.get("output") or {}
        out = self._remember(turn, output.get("session_id"))
        text = output.get("text")
        if text:
            turn.text.append(text)
            out.append(MessageDelta(text=text))
        finish = output.get("finish_reason")
        if finish and finish != "null":
            message = assistant_message("".join(turn.text))
            turn.finish(
                MessageCompleted(message=message, usage=_usage(data.get("usage"))),
                RunCompleted(finish_reason=str(finish)),
            )
        return out

    # ---- errors ---------------------------------------------------------------------------

    def _http_error(self, status: int, body: bytes) -> PlatformError:
        fields = error_fields(body)
        if status < 400 and not fields.get("code"):
            return PlatformError(
                f"Bailian answered HTTP {status} without an event stream: {body_text(body)}",
                code=BAD_RESPONSE,
                retryable=True,
                status=status,
            )
        if not fields:
            fields = {"message": body_text(body)}
        return self._error(fields, status, "refused the request")

    def _error(self, fields: Mapping[str, Any], status: int | None, what: str) -> PlatformError:
        code = str(fields.get("code") or "")
        message = str(fields.get("message") or "no message").rstrip(".")
        request = f" (request_id {fields['request_id']})" if fields.get("request_id") else ""
        label = ", ".join(x for x in (f"HTTP {status}" if status else "", code) if x)
        busy = busy_status(status) or code.startswith(_RETRYABLE_PREFIXES)
        retryable = busy or (status is not None and retryable_status(status))
        return PlatformError(
            f"Bailian {what} ({label}): {message}{request}.{self._hint(status or 0, code)}",
            code=HTTP_ERROR if status else PLATFORM_ERROR,
            retryable=retryable,
            status=status,
            platform_code=code or None,
            busy=busy,
        )

    def _hint(self, status: int, code: str) -> str:
        if code == "InvalidApiKey" or status == 401:
            return (
                " Check DASHSCOPE_API_KEY: keys of the cn (dashscope.aliyuncs.com) and intl "
                "(dashscope-intl.aliyuncs.com) regions are not interchangeable (set region)."
            )
        if status in (403, 404) or "App" in code:
            return f" Check BAILIAN_APP_ID ({self.app_id}) and that the key's region has it."
        if code.startswith("Throttling") or status == 429:
            return " Rate limited: slow down or raise the quota."
        if code == "Arrearage":
            return " The Alibaba Cloud account has an overdue payment."
        return ""


def _usage(usage: Any) -> Usage | None:
    """Sum of `usage.models[*]` tokens (the last chunk's totals, not a sum over chunks)."""
    if not isinstance(usage, dict):
        return None
    models = usage.get("models")
    entries = [m for m in models if isinstance(m, dict)] if isinstance(models, list) else [usage]
    return Usage(
        input_tokens=sum(int(m.get("input_tokens") or 0) for m in entries),
        output_tokens=sum(int(m.get("output_tokens") or 0) for m in entries),
        requests=max(1, len(entries)),
    )
