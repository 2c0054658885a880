"""What the embedding and rerank clients share: an HTTP JSON endpoint of a model service,
one POST per call, every failure a `KnowledgeUnavailable` naming the endpoint."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from agenthost.core.errors import KnowledgeUnavailable

if TYPE_CHECKING:
    import aiohttp


class JsonEndpoint:
    """`provider:model` at `base_url` + `path`, reached with a bearer `api_key`."""

    what: ClassVar[str]  # "embedding" or "rerank": named in the errors
    path: ClassVar[str]

    def __init__(
        self,
        provider: str,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        client: aiohttp.ClientSession | None = None,
    ) -> None:
        self.name = f"{provider}:{model}"
        self.model = model
        self.url = base_url.rstrip("/") + self.path
        self.timeout = timeout
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"

    async def _post(self, body: dict[str, Any]) -> bytes:
        """The answer's body; an HTTP error status, a transport failure or the timeout is
        `KnowledgeUnavailable`."""
        import aiohttp
        import orjson

        from agenthost.backends.common.http import make_http_client

        if self._client is None:
            self._client = make_http_client(max_connections=16, connect_timeout=self.timeout)
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.post(
                    self.url, data=orjson.dumps(body), headers=self._headers
                )
                async with response:
                    payload = await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise KnowledgeUnavailable(self.what, self.url, reason) from exc
        if response.status >= 400:
            reason = f"HTTP {response.status}: {payload[:300].decode(errors='replace')}"
            raise KnowledgeUnavailable(self.what, self.url, reason)
        return payload

    def _bad_answer(self, expected: str, exc: Exception | None = None) -> KnowledgeUnavailable:
        reason = f"an answer without {expected}" + (f" ({type(exc).__name__})" if exc else "")
        return KnowledgeUnavailable(self.what, self.url, reason)

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None
