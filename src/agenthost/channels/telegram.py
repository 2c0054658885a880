"""Telegram: a bot through the Bot API (https://core.telegram.org/bots/api), over aiohttp.

Input (`TelegramInput`): long polling with `getUpdates` (`offset` = last `update_id` + 1,
`timeout` seconds, `allowed_updates: ["message"]`), or, with `webhook_url`, an HTTP endpoint
registered with `setWebhook` (`secret_token`): an update without the matching
`X-Telegram-Bot-Api-Secret-Token` header is refused (401). Each `message` becomes an InboundMessage:
conversation = `chat.id`, id = `message_id`, sender = `from.id`, text = `text` or `caption`.
In groups (`chat.type` group/supergroup) only messages that mention the bot (`@username`) or
reply to it are taken when `require_mention` (the default); private chats always are. The
bot's own messages and other bots' are ignored. A photo (its largest size) or a document is
fetched with `getFile` and `/file/bot<token>/<file_path>` and becomes an inline attachment
(up to `max_attachment_bytes`; larger files are left out and the text says so).

Output (`TelegramOutput`): `sendMessage` (4096 characters; longer replies are split),
streamed replies as `editMessageText` at most once per `edit_interval` (default 1 s, within
Telegram's per-chat limit), after a `sendChatAction` typing indicator (best effort: a server
that refuses it still gets the streamed reply). Errors: 429 (`parameters.retry_after`) and
5xx are retried; 403 (the user blocked the bot) and other 4xx are given up.

`base_url` is `https://api.telegram.org` unless you run your own Bot API server.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
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
from agenthost.config.channels import TelegramInputConfig, TelegramOutputConfig
from agenthost.core.errors import ConfigError, DeliveryFailed
from agenthost.ports.channels import Attachment, Delivery, InboundMessage

log = logging.getLogger("agenthost.channels.telegram")

DEFAULT_BASE_URL = "https://api.telegram.org"
MAX_CHARS = 4096
PLACEHOLDER = "…"


class _Bot:
    """The Bot API for one token: `call(method, **params)` returns `result` or raises."""

    def __init__(self, token: str, base_url: str, timeout: float = 30.0) -> None:
        self.token = token
        self.api = Api("Telegram", base_url, timeout=timeout)

    async def call(self, method: str, timeout: float | None = None, **params: Any) -> Any:
        path = f"/bot{self.token}/{method}"
        status, body, headers = await self.api.call("POST", path, json=params, timeout=timeout)
        if status == 200 and isinstance(body, dict) and body.get("ok"):
            return body.get("result")
        raise self.api.failed("POST", path, status, body, headers)

    async def file(self, file_id: str, max_bytes: int) -> bytes | None:
        try:
            info = await self.call("getFile", file_id=file_id)
        except DeliveryFailed as exc:
            log.warning("telegram: getFile failed: %s", exc)
            return None
        path = info.get("file_path") if isinstance(info, dict) else None
        size = info.get("file_size") if isinstance(info, dict) else None
        if not path or (isinstance(size, int) and size > max_bytes):
            return None
        url = f"{self.api.base_url.rstrip('/')}/file/bot{self.token}/{path}"
        return await self.api.download(url, max_bytes=max_bytes)


class TelegramInput(InputClient):
    """A Telegram bot's messages by long polling, or by webhook when `webhook_url` is set
    (see the module doc)."""

    platform: ClassVar[str] = "telegram"

    def __init__(
        self,
        *,
        token: str,
        name: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        poll_timeout: int = 30,
        require_mention: bool = True,
        max_attachment_bytes: int = 10 * 1024 * 1024,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8443,
        path: str = "/telegram",
    ) -> None:
        super().__init__(name=name)
        if webhook_url is not None and not (
            webhook_secret and re.fullmatch(r"[A-Za-z0-9_-]{1,256}", webhook_secret)
        ):
            raise ConfigError(
                f"Telegram input {self.name!r}: a webhook needs a secret of 1-256 characters "
                f"A-Z, a-z, 0-9, _ and - (set webhook_secret_env); Telegram sends it in "
                f"X-Telegram-Bot-Api-Secret-Token and other requests are refused."
            )
        self.bot = _Bot(token, base_url, timeout=poll_timeout + 15)
        self.poll_timeout = poll_timeout
        self.require_mention = require_mention
        self.max_attachment_bytes = max_attachment_bytes
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.host = host
        self.port = port
        self.path = path
        self.offset: int | None = None
        self.me: dict[str, Any] = {}
        self.polling = asyncio.Event()  # set once getMe answered and updates are awaited

    def describe(self) -> str:
        how = f"webhook {self.webhook_url}" if self.webhook_url else "long polling"
        return f"telegram @{self.me.get('username', '?')} ({how})"

    async def run(self, sink: Sink) -> None:
        try:
            self.me = await self.bot.call("getMe")
            if self.webhook_url:
                await self._serve(sink)
            else:
                await self._poll(sink)
        finally:
            self.polling.clear()
            await self.bot.api.close()

    async def _poll(self, sink: Sink) -> None:
        self.polling.set()
        while True:
            params: dict[str, Any] = {"timeout": self.poll_timeout, "allowed_updates": ["message"]}
            if self.offset is not None:
                params["offset"] = self.offset
            try:
                updates = await self.bot.call("getUpdates", **params)
            except DeliveryFailed as exc:
                if not exc.retryable:
                    raise  # 409: a webhook is set (deleteWebhook) or another poller runs
                await asyncio.sleep(exc.retry_after or 1.0)
                continue
            for update in updates or ():
                message = await self.parse(update)
                if message is not None:
                    await sink.submit(message)
                self.offset = int(update["update_id"]) + 1

    async def _serve(self, sink: Sink) -> None:
        async def receive(request: web.Request) -> web.Response:
            secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(secret, self.webhook_secret or ""):
                log.warning("telegram %s: refused an update without the secret token", self.name)
                return web.Response(status=401, text="unauthorized")
            try:
                update = msgspec.json.decode(await request.read())
            except msgspec.DecodeError:
                return web.Response(status=400, text="the body is not JSON")
            message = await self.parse(update) if isinstance(update, dict) else None
            if message is not None and await sink.submit(message) == "stopping":
                return web.Response(status=503, text="stopping")  # Telegram sends it again
            return web.Response(status=200)

        app = web.Application(client_max_size=1_048_576)
        app.router.add_post(self.path, receive)
        async with serving(app, self.host, self.port) as self.port:
            await self.bot.call(
                "setWebhook",
                url=self.webhook_url,
                secret_token=self.webhook_secret,
                allowed_updates=["message"],
            )
            self.polling.set()
            await asyncio.Event().wait()  # until cancelled

    async def parse(self, update: dict[str, Any]) -> InboundMessage | None:
        """An update as an InboundMessage, or None when it is not for the agent."""
        message = update.get("message")
        if not isinstance(message, dict):
            return None
        sender = message.get("from") or {}
        if sender.get("is_bot") or sender.get("id") == self.me.get("id"):
            return None
        chat = message.get("chat") or {}
        text = str(message.get("text") or message.get("caption") or "")
        username = str(self.me.get("username") or "")
        mention = f"@{username}" if username else None
        if chat.get("type") in ("group", "supergroup") and self.require_mention:
            replied = (message.get("reply_to_message") or {}).get("from") or {}
            mentioned = mention is not None and mention.lower() in text.lower()
            if not mentioned and replied.get("id") != self.me.get("id"):
                return None
        if mention:
            text = _strip(text, mention)
        attachments = await self._attachments(message)
        return InboundMessage(
            id=str(message["message_id"]),
            conversation=str(chat.get("id")),
            text=text,
            sender=str(sender.get("id", "")),
            platform=self.platform,
            attachments=attachments,
            meta={"chat_type": chat.get("type"), "username": sender.get("username")},
        )

    async def _attachments(self, message: dict[str, Any]) -> tuple[Attachment, ...]:
        found: list[tuple[str, str | None, str | None]] = []  # (file_id, mime, name)
        photos = message.get("photo")
        if isinstance(photos, list) and photos:
            found.append((photos[-1]["file_id"], "image/jpeg", None))
        document = message.get("document")
        if isinstance(document, dict):
            found.append(
                (document["file_id"], document.get("mime_type"), document.get("file_name"))
            )
        out: list[Attachment] = []
        for file_id, mime, name in found:
            data = await self.bot.file(file_id, self.max_attachment_bytes)
            attachment = file_attachment(data, mime_type=mime, name=name)
            if attachment is not None:
                out.append(attachment)
        return tuple(out)


def _strip(text: str, mention: str) -> str:
    at = text.lower().find(mention.lower())
    if at < 0:
        return text
    return (text[:at] + text[at + len(mention) :]).strip()


class TelegramOutput(OutputClient):
    """Sends replies with `sendMessage`, streams them with `editMessageText`."""

    platform: ClassVar[str] = "telegram"

    def __init__(
        self,
        *,
        token: str,
        name: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        edit_interval: float | None = 1.0,
        max_chars: int = MAX_CHARS,
        parse_mode: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(name=name)
        self.bot = _Bot(token, base_url, timeout=timeout)
        self.parse_mode = parse_mode
        self.limits = OutputLimits(
            max_chars=min(max_chars, MAX_CHARS), edit_interval=edit_interval, concurrency=8
        )

    async def stop(self) -> None:
        await self.bot.api.close()

    async def send(self, delivery: Delivery) -> None:
        if await final_edit(
            delivery, key="message_id", edit=self._edit, platform=self.platform, log=log
        ):
            return
        item = delivery.item
        params: dict[str, Any] = {"chat_id": item.target, "text": item.text}
        if self.parse_mode:
            params["parse_mode"] = self.parse_mode
        await self.bot.call("sendMessage", **params)

    async def _edit(self, handle: dict[str, Any], text: str) -> None:
        params: dict[str, Any] = {**handle, "text": text}
        if self.parse_mode:
            params["parse_mode"] = self.parse_mode
        try:
            await self.bot.call("editMessageText", **params)
        except DeliveryFailed as exc:
            if "message is not modified" in str(exc):
                return  # the last streamed edit already shows this text
            raise

    async def open_stream(self, conversation: str, inbound: InboundMessage) -> Any:
        try:  # the typing indicator is cosmetic: its refusal does not cost the stream
            await self.bot.call("sendChatAction", chat_id=conversation, action="typing")
        except DeliveryFailed as exc:
            log.info("telegram: sendChatAction refused (%s); streaming without it", exc)
        sent = await self.bot.call("sendMessage", chat_id=conversation, text=PLACEHOLDER)
        return {"chat_id": conversation, "message_id": sent["message_id"]}

    async def edit_stream(self, handle: Any, text: str) -> None:
        await self._edit(handle, text[: self.limits.max_chars or MAX_CHARS])


def build_input(name: str, config: TelegramInputConfig) -> TelegramInput:
    """The input of a `type: telegram` entry of agenthost.yaml."""
    where = f"channels.inputs.{name}"
    return TelegramInput(
        name=name,
        token=token_from_env(f"{where}.token_env", None, config.token_env),
        base_url=config.base_url,
        poll_timeout=config.poll_timeout,
        require_mention=config.require_mention,
        max_attachment_bytes=config.max_attachment_bytes,
        webhook_url=config.webhook_url,
        webhook_secret=token_from_env(
            where + ".webhook_secret_env", None, config.webhook_secret_env
        )
        if config.webhook_url
        else None,
        host=config.host,
        port=config.port,
        path=config.path,
    )


def build_output(name: str, config: TelegramOutputConfig) -> TelegramOutput:
    """The output of a `type: telegram` entry of agenthost.yaml."""
    return TelegramOutput(**chat_output_options(name, config), parse_mode=config.parse_mode)


__all__ = ["TelegramInput", "TelegramOutput"]
