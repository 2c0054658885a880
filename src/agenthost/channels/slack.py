"""Slack: a bot through the Events API (HTTP) and the Web API, over aiohttp.

Input (`SlackInput`): an HTTP endpoint for the app's Event Subscriptions. Every request must
carry a valid `X-Slack-Signature` (`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` with the
app's signing secret) and an `X-Slack-Request-Timestamp` within 5 minutes; others get 401.
`url_verification` is answered with its `challenge`. From `event_callback`s it takes
`app_mention` (a mention in a channel) and `message` events in direct messages
(`channel_type: im`); with `require_mention: false` also `message` events of channels the bot
is in (a mention then arrives twice, as both; the second is dropped as a duplicate: both carry
the message's `ts`). Conversation = `channel`, id = `ts`, sender = `user`; the bot's own and
other bots' messages (`bot_id`, or a subtype other than `file_share`) are ignored. Files
(`files[].url_private`) are downloaded with the bot token into inline attachments.
The bot's user id comes from `auth.test` at start.

Output (`SlackOutput`): `chat.postMessage` (`max_chars` 4000 by default, Slack's
recommendation; longer replies are split), streamed replies as `chat.update` at most once per
`edit_interval` (default 1.5 s, within the method's tier). HTTP 429 (`Retry-After`) and the
errors `ratelimited`, `internal_error`, `fatal_error`, `service_unavailable`,
`request_timeout` are retried; any other `ok: false` (`channel_not_found`, `not_in_channel`,
`invalid_auth`, ...) is given up.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from typing import Any, ClassVar

import msgspec
from aiohttp import web

from agenthost.channels._platform import (
    Api,
    chat_output_options,
    file_attachment,
    final_edit,
    token_from_env,
)
from agenthost.channels._serving import serving
from agenthost.channels.base import InputClient, OutputClient, OutputLimits, Sink
from agenthost.config.channels import SlackInputConfig, SlackOutputConfig
from agenthost.core.errors import DeliveryFailed
from agenthost.ports.channels import Attachment, Delivery, InboundMessage

log = logging.getLogger("agenthost.channels.slack")

DEFAULT_BASE_URL = "https://slack.com/api"
MAX_CHARS = 4000
PLACEHOLDER = "…"
TOLERANCE = 300.0
_RETRY_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` of a request (Slack's v0 scheme)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _web_api(token: str, base_url: str, timeout: float) -> Api:
    return Api("Slack", base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


async def _call(api: Api, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """A Web API method: its answer when `ok`, else a DeliveryFailed (retryable or not)."""
    path = f"/{method}"
    status, answer, headers = await api.call("POST", path, json=body)
    if status == 200 and isinstance(answer, dict):
        if answer.get("ok"):
            return answer
        error = str(answer.get("error", "unknown"))
        raise DeliveryFailed(
            f"Slack {method} answered error {error!r}.",
            retryable=error in _RETRY_ERRORS,
        )
    raise api.failed("POST", path, status, answer, headers)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(body), content_type="application/json"
    )


class SlackInput(InputClient):
    """Slack's Events API as an HTTP endpoint (see the module doc)."""

    platform: ClassVar[str] = "slack"

    def __init__(
        self,
        *,
        token: str,
        signing_secret: str,
        name: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        host: str = "127.0.0.1",
        port: int = 3000,
        path: str = "/slack/events",
        require_mention: bool = True,
        max_attachment_bytes: int = 10 * 1024 * 1024,
        tolerance: float = TOLERANCE,
    ) -> None:
        super().__init__(name=name)
        self.api = _web_api(token, base_url, 30.0)
        self.token = token
        self.signing_secret = signing_secret
        self.host = host
        self.port = port
        self.path = path
        self.require_mention = require_mention
        self.max_attachment_bytes = max_attachment_bytes
        self.tolerance = tolerance
        self.bot_user: str = ""
        self.listening = asyncio.Event()

    def describe(self) -> str:
        return f"slack events http://{self.host}:{self.port}{self.path}"

    async def run(self, sink: Sink) -> None:
        try:
            auth = await _call(self.api, "auth.test", {})
            self.bot_user = str(auth.get("user_id", ""))

            async def receive(request: web.Request) -> web.Response:
                return await self._receive(request, sink)

            app = web.Application(client_max_size=1_048_576)
            app.router.add_post(self.path, receive)
            async with serving(app, self.host, self.port) as self.port:
                self.listening.set()
                try:
                    await asyncio.Event().wait()  # until cancelled
                finally:
                    self.listening.clear()
        finally:
            await self.api.close()

    async def _receive(self, request: web.Request, sink: Sink) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        try:
            fresh = abs(time.time() - int(timestamp)) <= self.tolerance
        except ValueError:
            fresh = False
        expected = slack_signature(self.signing_secret, timestamp, body)
        if not fresh or not hmac.compare_digest(expected, signature):
            log.warning("slack %s: refused a request with a bad or stale signature", self.name)
            return _json(401, {"error": "invalid signature"})
        try:
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return _json(400, {"error": "the body is not JSON"})
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind == "url_verification":
            return _json(200, {"challenge": payload.get("challenge", "")})
        if kind == "event_callback" and isinstance(payload.get("event"), dict):
            message = await self.parse(payload["event"])
            if message is not None and await sink.submit(message) == "stopping":
                return web.Response(status=503, text="stopping")
        return _json(200, {"ok": True})

    async def parse(self, event: dict[str, Any]) -> InboundMessage | None:
        """An Events API event as an InboundMessage, or None when it is not for the agent."""
        kind = event.get("type")
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
            return None
        user = str(event.get("user") or "")
        if not user or user == self.bot_user:
            return None
        if kind == "message":
            direct = event.get("channel_type") == "im"
            if not direct and self.require_mention:
                return None  # in channels, mentions arrive as app_mention
        elif kind != "app_mention":
            return None
        text = str(event.get("text") or "")
        if self.bot_user:
            text = re.sub(rf"<@{re.escape(self.bot_user)}(\|[^>]*)?>", "", text).strip()
        return InboundMessage(
            id=str(event["ts"]),
            conversation=str(event["channel"]),
            text=text,
            sender=user,
            platform=self.platform,
            attachments=await self._files(event.get("files") or ()),
            meta={"thread_ts": event.get("thread_ts"), "channel_type": event.get("channel_type")},
        )

    async def _files(self, files: Any) -> tuple[Attachment, ...]:
        out: list[Attachment] = []
        for f in files:
            url = f.get("url_private_download") or f.get("url_private")
            size = f.get("size")
            if not url or (isinstance(size, int) and size > self.max_attachment_bytes):
                continue
            data = await self.api.download(url, max_bytes=self.max_attachment_bytes)
            attachment = file_attachment(data, mime_type=f.get("mimetype"), name=f.get("name"))
            if attachment is not None:
                out.append(attachment)
        return tuple(out)


class SlackOutput(OutputClient):
    """Posts replies with chat.postMessage, streams them with chat.update."""

    platform: ClassVar[str] = "slack"

    def __init__(
        self,
        *,
        token: str,
        name: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        edit_interval: float | None = 1.5,
        max_chars: int = MAX_CHARS,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(name=name)
        self.api = _web_api(token, base_url, timeout)
        self.limits = OutputLimits(max_chars=max_chars, edit_interval=edit_interval)

    async def stop(self) -> None:
        await self.api.close()

    async def send(self, delivery: Delivery) -> None:
        if await final_edit(
            delivery, key="ts", edit=self.edit_stream, platform=self.platform, log=log
        ):
            return
        item = delivery.item
        await _call(self.api, "chat.postMessage", {"channel": item.target, "text": item.text})

    async def open_stream(self, conversation: str, inbound: InboundMessage) -> Any:
        sent = await _call(
            self.api, "chat.postMessage", {"channel": conversation, "text": PLACEHOLDER}
        )
        return {"channel": str(sent.get("channel") or conversation), "ts": str(sent["ts"])}

    async def edit_stream(self, handle: Any, text: str) -> None:
        await _call(
            self.api,
            "chat.update",
            {
                "channel": handle["channel"],
                "ts": handle["ts"],
                "text": text[: self.limits.max_chars or MAX_CHARS],
            },
        )


def build_input(name: str, config: SlackInputConfig) -> SlackInput:
    """The input of a `type: slack` entry of agenthost.yaml."""
    where = f"channels.inputs.{name}"
    return SlackInput(
        name=name,
        token=token_from_env(f"{where}.token_env", None, config.token_env),
        signing_secret=token_from_env(
            f"{where}.signing_secret_env", None, config.signing_secret_env
        ),
        base_url=config.base_url,
        host=config.host,
        port=config.port,
        path=config.path,
        require_mention=config.require_mention,
        max_attachment_bytes=config.max_attachment_bytes,
    )


def build_output(name: str, config: SlackOutputConfig) -> SlackOutput:
    """The output of a `type: slack` entry of agenthost.yaml."""
    return SlackOutput(**chat_output_options(name, config))


__all__ = ["SlackInput", "SlackOutput", "slack_signature"]
