"""Discord: a bot through the Gateway (a websocket) and the REST API v10, over aiohttp.

Input (`DiscordInput`): `GET /gateway/bot` gives the Gateway URL; the client connects with
`?v=10&encoding=json`, waits for HELLO (op 10, `heartbeat_interval` ms), sends IDENTIFY
(op 2: token, intents GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT) and heartbeats
(op 1 with the last sequence number; a heartbeat without an ACK (op 11) before the next one
means a dead connection: the client reconnects). READY (dispatch op 0) names the bot's user;
each MESSAGE_CREATE dispatch becomes an InboundMessage: conversation = `channel_id`, id =
`id`, sender = `author.id`, text = `content` without the bot's mention. Messages of bots
(the bot itself included) are ignored; in a guild channel only messages mentioning the bot
(`mentions` holds it) are taken when `require_mention` (direct messages have no `guild_id`
and always are). Attachments become URL attachments (Discord's CDN URLs).
RECONNECT (op 7), INVALID SESSION (op 9) or a closed socket end `run` with an error: the
runtime restarts the client with backoff and it identifies again.

Output (`DiscordOutput`): `POST /channels/{id}/messages` (2000 characters; longer replies are
split) with `nonce` = the delivery key and `enforce_nonce` (Discord drops a repeat), streamed
replies as `PATCH /channels/{id}/messages/{message_id}` at most once per `edit_interval`.
429 (`retry_after` in the JSON body) and 5xx are retried; 403 and other 4xx are given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from typing import Any, ClassVar

import aiohttp
import msgspec

from agenthost.channels._platform import Api, chat_output_options, final_edit, token_from_env
from agenthost.channels.base import InputClient, OutputClient, OutputLimits, Sink
from agenthost.config.channels import DiscordInputConfig, DiscordOutputConfig
from agenthost.core.errors import ChannelError
from agenthost.ports.channels import Attachment, Delivery, InboundMessage

log = logging.getLogger("agenthost.channels.discord")

DEFAULT_BASE_URL = "https://discord.com/api/v10"
MAX_CHARS = 2000
PLACEHOLDER = "…"
INTENTS = (1 << 9) | (1 << 12) | (1 << 15)  # GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY = 0, 1, 2
OP_RECONNECT, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 7, 9, 10, 11


def _api(token: str, base_url: str, timeout: float) -> Api:
    return Api(
        "Discord",
        base_url,
        headers={
            "Authorization": f"Bot {token}",
            "User-Agent": "DiscordBot (https://github.com/agenthost/agenthost, 1)",
        },
        timeout=timeout,
    )


class DiscordInput(InputClient):
    """A Discord bot's messages from the Gateway (see the module doc)."""

    platform: ClassVar[str] = "discord"

    def __init__(
        self,
        *,
        token: str,
        name: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        gateway_url: str | None = None,
        require_mention: bool = True,
        intents: int = INTENTS,
    ) -> None:
        super().__init__(name=name)
        self.token = token
        self.api = _api(token, base_url, 30.0)
        self.gateway_url = gateway_url
        self.require_mention = require_mention
        self.intents = intents
        self.user: dict[str, Any] = {}
        self.ready = asyncio.Event()  # set on READY
        self._seq: int | None = None

    def describe(self) -> str:
        return f"discord gateway ({self.user.get('username', 'not connected')})"

    async def run(self, sink: Sink) -> None:
        try:
            url = self.gateway_url or await self._gateway_url()
            joiner = "&" if "?" in url else "?"
            session = self.api.open()
            async with session.ws_connect(f"{url}{joiner}v=10&encoding=json") as ws:
                await self._session(ws, sink)
        finally:
            self.ready.clear()
            await self.api.close()

    async def _gateway_url(self) -> str:
        status, body, headers = await self.api.call("GET", "/gateway/bot")
        if status != 200 or not isinstance(body, dict) or "url" not in body:
            raise self.api.failed("GET", "/gateway/bot", status, body, headers)
        return str(body["url"])

    async def _session(self, ws: aiohttp.ClientWebSocketResponse, sink: Sink) -> None:
        hello = await self._receive(ws)
        if hello.get("op") != OP_HELLO:
            raise ChannelError(f"Discord Gateway: expected HELLO (op 10), got {hello!r:.200}")
        interval = float(hello["d"]["heartbeat_interval"]) / 1000.0
        acked = asyncio.Event()
        acked.set()
        beat = asyncio.create_task(self._heartbeat(ws, interval, acked))
        try:
            await ws.send_str(
                msgspec.json.encode(
                    {
                        "op": OP_IDENTIFY,
                        "d": {
                            "token": self.token,
                            "intents": self.intents,
                            "properties": {
                                "os": "linux",
                                "browser": "agenthost",
                                "device": "agenthost",
                            },
                        },
                    }
                ).decode()
            )
            while True:
                if beat.done():
                    beat.result()  # raises ChannelError when an ACK was missed
                payload = await self._receive(ws)
                op = payload.get("op")
                if payload.get("s") is not None:
                    self._seq = int(payload["s"])
                if op == OP_HEARTBEAT_ACK:
                    acked.set()
                elif op == OP_HEARTBEAT:
                    await self._send_heartbeat(ws)
                elif op in (OP_RECONNECT, OP_INVALID_SESSION):
                    raise ChannelError(f"Discord Gateway asked to reconnect (op {op}).")
                elif op == OP_DISPATCH:
                    await self._dispatch(payload.get("t"), payload.get("d") or {}, sink)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, ChannelError):
                await beat

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
        msg = await ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            payload: dict[str, Any] = msgspec.json.decode(msg.data)
            return payload
        raise ChannelError(
            f"Discord Gateway closed the connection ({msg.type.name}, code {ws.close_code})."
        )

    async def _send_heartbeat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_str(msgspec.json.encode({"op": OP_HEARTBEAT, "d": self._seq}).decode())

    async def _heartbeat(
        self, ws: aiohttp.ClientWebSocketResponse, interval: float, acked: asyncio.Event
    ) -> None:
        await asyncio.sleep(interval * random.random())  # the documented jitter
        while True:
            if not acked.is_set():
                await ws.close()
                raise ChannelError("Discord Gateway: no heartbeat ACK; reconnecting.")
            acked.clear()
            await self._send_heartbeat(ws)
            await asyncio.sleep(interval)

    async def _dispatch(self, event: Any, data: dict[str, Any], sink: Sink) -> None:
        if event == "READY":
            self.user = data.get("user") or {}
            self.ready.set()
        elif event == "MESSAGE_CREATE":
            message = self.parse(data)
            if message is not None:
                await sink.submit(message)

    def parse(self, data: dict[str, Any]) -> InboundMessage | None:
        """A MESSAGE_CREATE payload as an InboundMessage, or None when it is not for us."""
        author = data.get("author") or {}
        bot_id = str(self.user.get("id", ""))
        if author.get("bot") or str(author.get("id")) == bot_id:
            return None
        text = str(data.get("content") or "")
        mentioned = any(str(m.get("id")) == bot_id for m in data.get("mentions") or ())
        if data.get("guild_id") and self.require_mention and not mentioned:
            return None
        if bot_id:
            text = re.sub(rf"<@!?{re.escape(bot_id)}>", "", text).strip()
        attachments = tuple(
            Attachment(
                url=a["url"],
                mime_type=a.get("content_type") or "application/octet-stream",
                name=a.get("filename"),
                size=a.get("size"),
            )
            for a in data.get("attachments") or ()
            if a.get("url")
        )
        return InboundMessage(
            id=str(data["id"]),
            conversation=str(data["channel_id"]),
            text=text,
            sender=str(author.get("id", "")),
            platform=self.platform,
            attachments=attachments,
            meta={"guild_id": data.get("guild_id"), "username": author.get("username")},
        )


class DiscordOutput(OutputClient):
    """Posts replies to channels, streams them as message edits (see the module doc)."""

    platform: ClassVar[str] = "discord"

    def __init__(
        self,
        *,
        token: str,
        name: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        edit_interval: float | None = 1.0,
        max_chars: int = MAX_CHARS,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(name=name)
        self.api = _api(token, base_url, timeout)
        self.limits = OutputLimits(
            max_chars=min(max_chars, MAX_CHARS), edit_interval=edit_interval, concurrency=8
        )

    async def stop(self) -> None:
        await self.api.close()

    async def _request(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, answer, headers = await self.api.call(method, path, json=body)
        if 200 <= status < 300 and isinstance(answer, dict):
            return answer
        raise self.api.failed(method, path, status, answer, headers)

    async def send(self, delivery: Delivery) -> None:
        if await final_edit(
            delivery, key="message_id", edit=self.edit_stream, platform=self.platform, log=log
        ):
            return
        item = delivery.item
        await self._request(
            "POST",
            f"/channels/{item.target}/messages",
            {"content": item.text, "nonce": delivery.key[:25], "enforce_nonce": True},
        )

    async def open_stream(self, conversation: str, inbound: InboundMessage) -> Any:
        sent = await self._request(
            "POST", f"/channels/{conversation}/messages", {"content": PLACEHOLDER}
        )
        return {"channel_id": conversation, "message_id": str(sent["id"])}

    async def edit_stream(self, handle: Any, text: str) -> None:
        await self._request(
            "PATCH",
            f"/channels/{handle['channel_id']}/messages/{handle['message_id']}",
            {"content": text[: self.limits.max_chars or MAX_CHARS]},
        )


def build_input(name: str, config: DiscordInputConfig) -> DiscordInput:
    """The input of a `type: discord` entry of agenthost.yaml."""
    return DiscordInput(
        name=name,
        token=token_from_env(f"channels.inputs.{name}.token_env", None, config.token_env),
        base_url=config.base_url,
        gateway_url=config.gateway_url,
        require_mention=config.require_mention,
    )


def build_output(name: str, config: DiscordOutputConfig) -> DiscordOutput:
    """The output of a `type: discord` entry of agenthost.yaml."""
    return DiscordOutput(**chat_output_options(name, config))


__all__ = ["DiscordInput", "DiscordOutput"]
