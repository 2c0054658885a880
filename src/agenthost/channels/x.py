"""X (Twitter): replies posted with the API v2 `POST /2/tweets`, over aiohttp.

Output only (`XOutput`): each reply part is a post `{"text": ...}` authorised by an OAuth 2.0
user access token (`Authorization: Bearer`, scope `tweet.write`). A reply longer than
`max_chars` (280) is split and posted as a thread: each further part replies to the previous
one (`reply.in_reply_to_tweet_id`). The target is a post id to reply to (a route's
`target: "1850..."`), or any non-numeric name (`timeline`) for a new post.
Errors: 429 (waiting until `x-rate-limit-reset`) and 5xx are retried; 401, 403 (duplicate
content, no permission) and other 4xx are given up. X cannot edit posts through this API: the
reply is sent once, when it is complete.

The thread links are kept in memory: after a restart in the middle of a thread, the parts left
are posted as new posts rather than replies.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from agenthost.channels._platform import Api, token_from_env
from agenthost.channels.base import OutputClient, OutputLimits
from agenthost.config.channels import XOutputConfig
from agenthost.ports.channels import Delivery

DEFAULT_BASE_URL = "https://api.x.com"
MAX_CHARS = 280


def _retry_after(headers: Any, body: Any) -> float | None:
    reset = headers.get("x-rate-limit-reset")
    if reset and reset.isdigit():
        return max(0.0, float(reset) - time.time())
    after = headers.get("Retry-After")
    return float(after) if after and after.isdigit() else None


class XOutput(OutputClient):
    """Posts replies on X, long ones as a thread (see the module doc)."""

    platform: ClassVar[str] = "x"

    def __init__(
        self,
        *,
        token: str,
        name: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        max_chars: int = MAX_CHARS,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(name=name)
        self.api = Api("X", base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        self.limits = OutputLimits(max_chars=min(max_chars, MAX_CHARS), concurrency=2)
        self._posted: dict[tuple[Any, ...], str] = {}  # (inbound key, target, part) -> post id

    async def stop(self) -> None:
        await self.api.close()

    async def send(self, delivery: Delivery) -> None:
        item = delivery.item
        body: dict[str, Any] = {"text": item.text}
        previous = self._posted.get((item.inbound_key, item.target, item.part - 1))
        reply_to = previous or (item.target if item.part == 0 and item.target.isdigit() else None)
        if reply_to:
            body["reply"] = {"in_reply_to_tweet_id": reply_to}
        status, answer, headers = await self.api.call("POST", "/2/tweets", json=body)
        if status in (200, 201) and isinstance(answer, dict) and "data" in answer:
            post_id = str(answer["data"]["id"])
            if item.part + 1 < item.parts:
                self._posted[(item.inbound_key, item.target, item.part)] = post_id
            self._posted.pop((item.inbound_key, item.target, item.part - 1), None)
            return
        failed = self.api.failed("POST", "/2/tweets", status, answer, headers)
        if failed.retryable:
            failed.retry_after = _retry_after(headers, answer) or failed.retry_after
        raise failed


def build_output(name: str, config: XOutputConfig) -> XOutput:
    """The output of a `type: x` entry of agenthost.yaml."""
    return XOutput(
        name=name,
        token=token_from_env(f"channels.outputs.{name}.token_env", None, config.token_env),
        base_url=config.base_url,
        max_chars=config.max_chars,
    )


__all__ = ["XOutput"]
