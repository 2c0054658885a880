"""The host's end of a plugin served over HTTP (see agenthost.plugin._http for the binding).

Every run is its own `POST agent.run` whose response streams the plugin's frames for that run,
so a broken frame or a dropped stream fails that run only. The host answers the plugin's
`host.*` requests with POSTs to the same URL.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from agenthost.backends.common.propagation import aiohttp_trace_configs
from agenthost.core.errors import PluginError, PluginErrorCode
from agenthost.ports import wire
from agenthost.ports.protocol import RunContext

log = logging.getLogger("agenthost.plugins")


class HttpRun:
    """The frames of one run, read from its NDJSON stream."""

    __slots__ = ("_buffer", "_name", "_response")

    def __init__(self, response: aiohttp.ClientResponse, name: str) -> None:
        self._response = response
        self._name = name
        self._buffer = bytearray()

    async def get(self) -> wire.Frame:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                if not line.strip():
                    continue
                try:
                    return wire.decode_frame(line)
                except wire.ProtocolError as exc:
                    detail = f"it sent {exc}: {line[:200]!r}"
                    raise self._error("plugin.protocol_error", detail) from exc
            try:
                chunk = await self._response.content.readany()
            except aiohttp.ClientError as exc:
                raise self._error("plugin.crashed", f"the run's stream broke: {exc}") from exc
            if not chunk:
                raise self._error("plugin.crashed", "it closed the run's stream too early")
            self._buffer += chunk
            if len(self._buffer) > wire.MAX_FRAME_BYTES:
                raise self._error("plugin.protocol_error", "it sent a frame over the size limit")

    def _error(self, code: PluginErrorCode, message: str) -> PluginError:
        return PluginError(code, message, plugin=self._name)

    def close(self) -> None:
        self._response.close()


class HttpConnection:
    """A plugin at an HTTP URL."""

    def __init__(self, url: str, *, name: str, headers: Mapping[str, str] | None) -> None:
        self.url = url
        self.name = name
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.alive = False
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            trace_configs=aiohttp_trace_configs(),  # `traceparent` on requests, when tracing
        )
        self.alive = True

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise PluginError("plugin.unavailable", "the connection is closed", plugin=self.name)
        return self._session

    async def _post(self, data: bytes, *, timeout: float | None = None) -> aiohttp.ClientResponse:
        try:
            response = await self._client().post(
                self.url, data=data, timeout=aiohttp.ClientTimeout(total=timeout)
            )
        except (aiohttp.ClientError, OSError) as exc:
            self.alive = False
            raise PluginError(
                "plugin.unavailable", f"cannot reach {self.url}: {exc}", plugin=self.name
            ) from exc
        except TimeoutError as exc:
            raise PluginError(
                "plugin.timeout", f"no answer from {self.url} within {timeout}s", plugin=self.name
            ) from exc
        if response.status > 400:  # 400 carries a JSON-RPC error body
            body = (await response.read())[:300]
            response.release()
            raise PluginError(
                "plugin.unavailable",
                f"{self.url} answered HTTP {response.status}: {body!r}",
                plugin=self.name,
            )
        return response

    async def request(self, method: str, params: Any, *, timeout: float) -> wire.Frame:
        response = await self._post(wire.request(next(self._ids), method, params), timeout=timeout)
        try:
            body = await response.read()
        finally:
            response.release()
        try:
            return wire.decode_frame(body)
        except wire.ProtocolError as exc:
            raise PluginError(
                "plugin.protocol_error", f"it answered {method} with {exc}", plugin=self.name
            ) from exc

    async def send(self, data: bytes) -> None:
        """Answer a host call (or stream an event): a POST the plugin acknowledges with 202."""
        try:
            response = await self._post(data, timeout=30)
        except PluginError as exc:
            log.warning("plugin %s: could not deliver an answer: %s", self.name, exc.message)
            return
        response.release()

    async def open_run(self, ctx: RunContext) -> HttpRun:
        data = wire.request(next(self._ids), "agent.run", wire.RunParams(context=ctx))
        response = await self._post(data)
        if response.status != 200:
            body = (await response.read())[:300]
            response.release()
            raise PluginError(
                "plugin.protocol_error", f"it refused agent.run: {body!r}", plugin=self.name
            )
        return HttpRun(response, self.name)

    async def end_run(self, run_id: str, run: HttpRun, *, cancel: bool) -> None:
        """Close the run's stream; `cancel` also posts `agent.cancel` (waits at most 2 s)."""
        run.close()
        if cancel:
            with contextlib.suppress(PluginError):
                await self.request("agent.cancel", wire.RunRef(run_id=run_id), timeout=2)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.alive = False
