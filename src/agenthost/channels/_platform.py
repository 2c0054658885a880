"""What the chat-platform clients (telegram, discord, slack, x) share: the token from an
environment variable, one aiohttp session, a JSON call whose failure becomes a DeliveryFailed
(retryable for 408/425/429/5xx and network errors, with the platform's retry-after), files
downloaded into attachments, the final edit of a streamed reply, and the mention rule for
groups."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypedDict

import aiohttp
import msgspec

from agenthost.config.channels import DiscordOutputConfig, SlackOutputConfig, TelegramOutputConfig
from agenthost.core.errors import ConfigError, DeliveryFailed
from agenthost.ports.channels import Attachment, Delivery

_RETRY_STATUS = frozenset({408, 425, 429})


def token_from_env(where: str, token: str | None, env: str) -> str:
    """`token`, else the variable `env` names; a ConfigError saying which one is missing."""
    if token:
        return token
    value = os.environ.get(env)
    if not value:
        raise ConfigError(
            f"{where}: the variable {env} is not set; export the token or secret in it (it "
            f"never goes in the config file), or name the variable that holds it."
        )
    return value


# the agenthost.yaml entries of the chat outputs that edit a streamed reply
ChatOutputEntry: TypeAlias = TelegramOutputConfig | DiscordOutputConfig | SlackOutputConfig


class ChatOutputOptions(TypedDict):
    name: str
    token: str
    base_url: str
    edit_interval: float | None
    max_chars: int


def chat_output_options(name: str, config: ChatOutputEntry) -> ChatOutputOptions:
    """The constructor options of chat output `name` from its agenthost.yaml entry (the token
    read from the variable the entry names)."""
    return ChatOutputOptions(
        name=name,
        token=token_from_env(f"channels.outputs.{name}.token_env", None, config.token_env),
        base_url=config.base_url,
        edit_interval=config.edit_interval,
        max_chars=config.max_chars,
    )


def retry_after_of(headers: Any, body: Any) -> float | None:
    """The platform's wait hint: a JSON `retry_after` (Discord), `parameters.retry_after`
    (Telegram), a `Retry-After` header (Slack, HTTP) in seconds."""
    if isinstance(body, dict):
        params = body.get("parameters")
        for value in (body.get("retry_after"), params.get("retry_after") if params else None):
            if isinstance(value, int | float):
                return float(value)
    after = headers.get("Retry-After")
    if after:
        try:
            return float(after)
        except ValueError:
            return None
    return None


@dataclass(slots=True)
class Api:
    """One platform's HTTP API: a base URL, auth headers, and one session (opened lazily)."""

    what: str  # "Telegram", ... (error messages)
    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    session: aiohttp.ClientSession | None = None

    def open(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(
                headers=self.headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        return self.session

    async def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, Any, Any]:
        """(status, decoded JSON body or None, headers); network errors and timeouts raise a
        retryable DeliveryFailed. The token is never in the message (URLs are not shown)."""
        session = self.open()
        url = self.base_url.rstrip("/") + path
        kwargs: dict[str, Any] = {}
        if json is not None:
            kwargs["data"] = msgspec.json.encode(json)
            kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with session.request(method, url, params=params, **kwargs) as response:
                raw = await response.read()
                try:
                    body = msgspec.json.decode(raw) if raw else None
                except msgspec.DecodeError:
                    body = raw[:200].decode("utf-8", "replace")
                return response.status, body, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(
                f"{self.what} {method} {_public(path)} failed: "
                f"{type(exc).__name__}: {_public(str(exc))}"
            ) from None

    def failed(
        self, method: str, path: str, status: int, body: Any, headers: Any
    ) -> DeliveryFailed:
        """The DeliveryFailed for an answer that is not a success."""
        retry = status in _RETRY_STATUS or status >= 500
        detail = body if isinstance(body, str) else msgspec.json.encode(body).decode()[:300]
        return DeliveryFailed(
            f"{self.what} {method} {_public(path)} answered {status}: {detail}",
            retryable=retry,
            retry_after=retry_after_of(headers, body) if retry else None,
        )

    async def download(
        self, url: str, *, max_bytes: int, headers: dict[str, str] | None = None
    ) -> bytes | None:
        """A file's bytes (None above `max_bytes` or on any error: the message goes on)."""
        session = self.open()
        try:
            async with session.get(url, headers=headers) as response:
                if response.status != 200:
                    return None
                data = await response.content.read(max_bytes + 1)
                return data if len(data) <= max_bytes else None
        except (aiohttp.ClientError, TimeoutError):
            return None


def _public(path: str) -> str:
    """A path or message without a bot token (Telegram's /bot<token>/method)."""
    return re.sub(r"/bot[^/\s]+/", "/bot***/", path)


def file_attachment(
    data: bytes | None, *, mime_type: str | None, name: str | None
) -> Attachment | None:
    if data is None:
        return None
    return Attachment(
        data=data,
        mime_type=mime_type or "application/octet-stream",
        name=name,
        size=len(data),
    )


async def final_edit(
    delivery: Delivery,
    *,
    key: str,
    edit: Callable[[dict[str, Any], str], Awaitable[None]],
    platform: str,
    log: logging.Logger,
) -> bool:
    """Ends a streamed reply by editing its message (the handle in the item's `meta["edit"]`,
    holding `key`) to the final text: True when done. False when the reply was not streamed,
    or when the platform refused the edit for good (the message is gone, say): the caller then
    posts a new message. A retryable refusal is raised, for the outbox to try again."""
    item = delivery.item
    handle = item.meta.get("edit")
    if not isinstance(handle, dict) or key not in handle:
        return False
    try:
        await edit(handle, item.text)
    except DeliveryFailed as exc:
        if exc.retryable:
            raise
        log.info("%s: final edit refused (%s); posting a new message", platform, exc)
        return False
    return True
