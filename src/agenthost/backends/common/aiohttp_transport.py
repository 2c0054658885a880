"""The transport protocol (`transport.py`) over an `aiohttp.ClientSession`.

Used when a proxy applies (HTTP(S)_PROXY / NO_PROXY: the session is then made with
trust_env=True, so aiohttp routes through it), for a `Provider(client=...)` given an aiohttp
session, and with `transport="aiohttp"`. Without a proxy the session does not trust the
environment: trust_env costs every request a look through the proxy variables and .netrc.
aiohttp's errors become the transport's: failing to connect or a connection dropped before the
answer -> `NotAnswered`, a body that breaks off -> `ResponseBroken`. A pooled connection the
server had closed while idle fails with `ServerDisconnectedError` or `ClientOSError` before
anything was answered: that request is sent once more, as `H1Client` does (not when no
connection could be made: `ClientConnectorError`, which aiohttp never retries either).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping

import aiohttp

from agenthost.backends.common.http import make_http_client
from agenthost.backends.common.transport import NotAnswered, ResponseBroken


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class AiohttpResponse:
    """An `aiohttp.ClientResponse` as a `transport.Response`."""

    __slots__ = ("_content", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._content = response.content
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    def read_nowait(self) -> bytes:
        try:
            return self._content.read_nowait()
        except aiohttp.ClientError as exc:
            raise ResponseBroken(_describe(exc)) from exc

    async def readany(self) -> bytes:
        try:
            return await self._content.readany()
        except aiohttp.ClientError as exc:
            raise ResponseBroken(_describe(exc)) from exc

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except aiohttp.ClientError as exc:
            raise ResponseBroken(_describe(exc)) from exc

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := await self.readany():
            yield chunk

    def release(self) -> None:
        if self._content.is_eof():
            self._response.release()
        else:  # unread bytes left: the connection cannot go back to the pool
            self._response.close()

    def close(self) -> None:
        self._response.close()


class AiohttpTransport:
    """`post()` over one `aiohttp.ClientSession` (closed by `aclose` only if made here)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        owned: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.session = session
        self._owned = owned
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True

    @classmethod
    def create(
        cls,
        *,
        max_connections: int,
        connect_timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        trust_env: bool = True,
    ) -> AiohttpTransport:
        session = make_http_client(
            max_connections=max_connections, connect_timeout=connect_timeout, trust_env=trust_env
        )
        return cls(session, owned=True, ssl_context=ssl_context)

    @property
    def closed(self) -> bool:
        return self.session.closed

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> AiohttpResponse:
        session = self.session
        try:
            try:
                response = await session.post(url, data=body, headers=headers, ssl=self._ssl)
            except aiohttp.ClientConnectorError:
                raise  # no connection made (refused, DNS, TLS): nothing to resend it on
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                # a pooled keep-alive connection the server had already closed: nothing was
                # answered, so send once more
                response = await session.post(url, data=body, headers=headers, ssl=self._ssl)
        except aiohttp.ClientError as exc:
            raise NotAnswered(_describe(exc)) from exc
        return AiohttpResponse(response)

    async def aclose(self) -> None:
        if self._owned:
            await self.session.close()
