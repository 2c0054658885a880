"""Webhooks: an HTTP endpoint as an input, an HTTP POST as an output (aiohttp, both).

Input (`WebhookInput`): POST a JSON message to `http://host:port/path`:

    {"id": "m-1", "conversation": "c-42", "text": "Hello", "sender": "alice",
     "attachments": [{"url": "https://...", "mime_type": "image/png", "size": 1234}]}

signed as described in signing.py. Answers: 202 `{"status": "accepted"}` once the message is
stored (it will be answered even if the process dies now); 200 `{"status": "duplicate"}` for
an id seen before in that conversation; 400 with `code` and `field` for a message that is not
valid; 401 for a bad or stale signature; 413 above `max_body_bytes`; 503 while stopping.
`GET path` answers 200 (a health check for the sender).

Output (`WebhookOutput`): each reply part is POSTed as JSON to `url`:

    {"id": "<idempotency key>", "output": "hook", "conversation": "c-42", "text": "...",
     "part": 0, "parts": 1, "in_reply_to": {"input": "web", "conversation": "c-42", "id": "m-1"}}

with `Idempotency-Key: <id>` and, when a secret is set, the signature headers. A 2xx is
delivered; 408, 425, 429 and 5xx (honouring Retry-After), timeouts and connection errors are
retried; any other status is given up at once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any, ClassVar

import aiohttp
import msgspec
from aiohttp import web

from agenthost.channels._serving import serving
from agenthost.channels.base import InputClient, OutputClient, OutputLimits, Sink
from agenthost.channels.signing import DEFAULT_TOLERANCE, sign, verify
from agenthost.core.errors import ConfigError, DeliveryFailed
from agenthost.ports.channels import Attachment, Delivery, InboundMessage

log = logging.getLogger("agenthost.channels.webhook")

_RETRY_STATUS = frozenset({408, 425, 429})


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    conversation: str
    text: str = ""
    sender: str = ""
    attachments: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(body), content_type="application/json"
    )


def _attachment(raw: dict[str, Any], index: int) -> Attachment:
    data = raw.get("data")
    try:
        return Attachment(
            url=raw.get("url"),
            data=base64.b64decode(data, validate=True) if isinstance(data, str) else None,
            mime_type=str(raw.get("mime_type") or "application/octet-stream"),
            name=raw.get("name"),
            size=raw.get("size"),
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"attachments[{index}]: {exc}") from exc


def parse_message(body: bytes) -> InboundMessage:
    """A webhook body as an InboundMessage; ValueError saying which field is wrong."""
    try:
        raw = msgspec.json.decode(body, type=_Body)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("`", "")) from exc
    except msgspec.DecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc
    attachments = tuple(_attachment(a, i) for i, a in enumerate(raw.attachments))
    return InboundMessage(
        id=raw.id,
        conversation=raw.conversation,
        text=raw.text,
        sender=raw.sender,
        attachments=attachments,
        meta=raw.meta,
    )


class WebhookInput(InputClient):
    """An HTTP endpoint that takes signed JSON messages (see the module doc).

    `secret` signs requests (required unless `insecure=True`, for local tests only);
    `port=0` picks a free port (`.port` once `.listening` is set).
    """

    platform: ClassVar[str] = "webhook"

    def __init__(
        self,
        *,
        name: str | None = None,
        secret: str | None,
        host: str = "127.0.0.1",
        port: int = 8080,
        path: str = "/",
        max_body_bytes: int = 1_048_576,
        tolerance: float = DEFAULT_TOLERANCE,
        insecure: bool = False,
    ) -> None:
        super().__init__(name=name)
        if not secret and not insecure:
            raise ConfigError(
                f"Webhook input {self.name!r} has no secret: set secret (or secret_env) so "
                f"that only signed requests are accepted (insecure=True for local tests)."
            )
        if not path.startswith("/"):
            raise ConfigError(f"Webhook input {self.name!r}: path {path!r} must start with '/'.")
        self.secret = secret
        self.host = host
        self.port = port
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.tolerance = tolerance
        self.listening = asyncio.Event()

    def describe(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    async def run(self, sink: Sink) -> None:
        app = web.Application(client_max_size=self.max_body_bytes)

        async def receive(request: web.Request) -> web.Response:
            return await self._receive(request, sink)

        async def health(request: web.Request) -> web.Response:
            return _json(200, {"status": "ok"})

        app.router.add_post(self.path, receive)
        app.router.add_get(self.path, health)
        async with serving(app, self.host, self.port) as self.port:
            self.listening.set()
            log.info("webhook input %s listening on %s", self.name, self.describe())
            try:
                await asyncio.Event().wait()  # until cancelled
            finally:
                self.listening.clear()

    async def _receive(self, request: web.Request, sink: Sink) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json(413, {"code": "payload_too_large", "message": "the body is too large"})
        if self.secret:
            problem = verify(self.secret, request.headers, body, tolerance=self.tolerance)
            if problem is not None:
                log.warning("webhook %s: refused a request: %s", self.name, problem)
                return _json(401, {"code": "unauthorized", "message": problem})
        try:
            message = parse_message(body)
        except ValueError as exc:
            return _json(400, {"code": "invalid_message", "message": str(exc)})
        result = await sink.submit(message)
        if result == "accepted":
            return _json(202, {"status": "accepted", "id": message.id})
        if result == "duplicate":
            return _json(200, {"status": "duplicate", "id": message.id})
        if result == "stopping":
            return web.Response(status=503, headers={"Retry-After": "5"}, text="stopping")
        why = result.removeprefix("invalid: ")
        field = why.split(":", 1)[0]
        return _json(400, {"code": "invalid_message", "field": field, "message": why})


class WebhookOutput(OutputClient):
    """POSTs each reply part to `url` (see the module doc); `max_chars` splits long replies."""

    platform: ClassVar[str] = "webhook"

    def __init__(
        self,
        *,
        name: str | None = None,
        url: str,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        max_chars: int | None = None,
        concurrency: int = 16,
    ) -> None:
        super().__init__(name=name)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"Webhook output {self.name!r}: url {url!r} must be http(s).")
        self.url = url
        self.secret = secret
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.limits = OutputLimits(max_chars=max_chars, concurrency=concurrency)
        self._session: aiohttp.ClientSession | None = None

    def describe(self) -> str:
        return self.url

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, delivery: Delivery) -> None:
        if self._session is None:
            await self.start()
        assert self._session is not None
        item = delivery.item
        input_name, conversation, message_id = item.inbound_key
        body = msgspec.json.encode(
            {
                "id": delivery.key,
                "output": item.output,
                "conversation": item.target,
                "text": item.text,
                "part": item.part,
                "parts": item.parts,
                "in_reply_to": {
                    "input": input_name,
                    "conversation": conversation,
                    "id": message_id,
                },
            }
        )
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.key,
        }
        if self.secret:
            headers.update(sign(self.secret, body))
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                if response.status < 300:
                    return
                text = (await response.text())[:200]
                retry = response.status in _RETRY_STATUS or response.status >= 500
                after = response.headers.get("Retry-After")
                raise DeliveryFailed(
                    f"POST {self.url} answered {response.status}: {text}",
                    retryable=retry,
                    retry_after=float(after) if after and after.isdigit() else None,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"POST {self.url} failed: {type(exc).__name__}: {exc}") from exc
