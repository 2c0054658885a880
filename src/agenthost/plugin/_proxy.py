"""HostProxy: the plugin's `host`. Each call is a JSON-RPC request to the host process
carrying the run id; the host authorizes it against that run's resources and answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from agenthost.core.errors import HostAPIError
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.core.state import Scope
from agenthost.ports import wire
from agenthost.ports.knowledge import Chunk
from agenthost.ports.models import ModelResponse, ModelSettings, StreamEvent, ToolSpec
from agenthost.ports.protocol import HistoryPage
from agenthost.ports.tools import ToolOutput

if TYPE_CHECKING:
    from agenthost.plugin._endpoint import Endpoint

Send = Callable[[bytes], object]


class HostProxy:
    """HostAPI over JSON-RPC for one run (see ports.protocol.HostAPI for the contract).
    Refusals raise `HostAPIError` with the host's code, as in-process."""

    __slots__ = ("_endpoint", "_run_id", "_send")

    def __init__(self, endpoint: Endpoint, run_id: str, send: Send) -> None:
        self._endpoint = endpoint
        self._run_id = run_id
        self._send = send

    @property
    def run_id(self) -> str:
        return self._run_id

    async def _call(self, method: str, params: Any, result_type: Any = Any) -> Any:
        request_id, future = self._endpoint.expect_response()
        try:
            self._send(wire.request(request_id, method, params))
            frame = await future
        finally:
            self._endpoint.forget(request_id)
        return _result(frame, result_type)

    # ---- models ---------------------------------------------------------------------------

    async def invoke_model(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        params = wire.ModelParams(
            run_id=self._run_id,
            model_id=model_id,
            messages=list(messages),
            tools=list(tools),
            settings=settings,
        )
        response: ModelResponse = await self._call("host.invoke_model", params, ModelResponse)
        return response

    async def stream_model(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[StreamEvent]:
        params = wire.ModelParams(
            run_id=self._run_id,
            model_id=model_id,
            messages=list(messages),
            tools=list(tools),
            settings=settings,
        )
        request_id, queue = self._endpoint.expect_stream()
        try:
            self._send(wire.request(request_id, "host.stream_model", params))
            while True:
                item = await queue.get()
                if isinstance(item, wire.Frame):
                    _result(item, Any)  # raises the host's refusal, if any
                    return
                yield item
        finally:
            self._endpoint.forget(request_id)

    # ---- tools ----------------------------------------------------------------------------

    async def tool_detail(self, tool_name: str) -> ToolSpec:
        params = wire.ToolNameParams(run_id=self._run_id, tool_name=tool_name)
        spec: ToolSpec = await self._call("host.tool_detail", params, ToolSpec)
        return spec

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutput:
        params = wire.CallToolParams(
            run_id=self._run_id, tool_name=tool_name, arguments=arguments, timeout=timeout
        )
        output: ToolOutput = await self._call("host.call_tool", params, ToolOutput)
        return output

    # ---- knowledge ------------------------------------------------------------------------

    async def retrieve(
        self, kb_id: str, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]:
        params = wire.RetrieveParams(
            run_id=self._run_id, kb_id=kb_id, query=query, top_k=top_k, filters=filters
        )
        chunks: list[Chunk] = await self._call("host.retrieve", params, list[Chunk])
        return chunks

    # ---- history and events ---------------------------------------------------------------

    async def history_messages(self) -> list[Message]:
        params = wire.RunOnlyParams(run_id=self._run_id)
        messages: list[Message] = await self._call("host.history_messages", params, list[Message])
        return messages

    async def history_page(self, *, before: int | None = None, limit: int = 50) -> HistoryPage:
        params = wire.HistoryPageParams(run_id=self._run_id, before=before, limit=limit)
        page: HistoryPage = await self._call("host.history_page", params, HistoryPage)
        return page

    async def history_search(self, query: str, *, limit: int = 20) -> list[Event]:
        params = wire.SearchParams(run_id=self._run_id, query=query, limit=limit)
        events: list[Event] = await self._call("host.history_search", params, list[Event])
        return events

    async def event_get(self, event_id: str) -> Event:
        params = wire.EventGetParams(run_id=self._run_id, event_id=event_id)
        event: Event = await self._call("host.event_get", params, Event)
        return event

    async def event_page(self, *, after: int = 0, limit: int = 50) -> HistoryPage:
        params = wire.EventPageParams(run_id=self._run_id, after=after, limit=limit)
        page: HistoryPage = await self._call("host.event_page", params, HistoryPage)
        return page

    # ---- state ----------------------------------------------------------------------------

    async def state_get(self, scope: Scope, key: str) -> Any:
        params = wire.StateKeyParams(run_id=self._run_id, scope=scope, key=key)
        return await self._call("host.state_get", params)

    async def state_set(self, scope: Scope, key: str, value: Any) -> None:
        params = wire.StateSetParams(run_id=self._run_id, scope=scope, key=key, value=value)
        await self._call("host.state_set", params)

    async def state_delete(self, scope: Scope, key: str) -> None:
        params = wire.StateKeyParams(run_id=self._run_id, scope=scope, key=key)
        await self._call("host.state_delete", params)

    # ---- storage --------------------------------------------------------------------------

    async def storage_get(self, key: str) -> Any:
        params = wire.StorageKeyParams(run_id=self._run_id, key=key)
        return await self._call("host.storage_get", params)

    async def storage_set(self, key: str, value: Any) -> None:
        params = wire.StorageSetParams(run_id=self._run_id, key=key, value=value)
        await self._call("host.storage_set", params)

    async def storage_delete(self, key: str) -> None:
        params = wire.StorageKeyParams(run_id=self._run_id, key=key)
        await self._call("host.storage_delete", params)

    async def storage_list(self) -> list[str]:
        params = wire.RunOnlyParams(run_id=self._run_id)
        keys: list[str] = await self._call("host.storage_list", params, list[str])
        return keys


def _result(frame: wire.Frame, result_type: Any) -> Any:
    if not isinstance(frame.error, msgspec.UnsetType):
        raise wire.host_api_error(frame.error)
    try:
        return wire.decode_result(frame, result_type)
    except wire.ProtocolError as exc:
        raise HostAPIError("runtime_error", f"the host sent a bad answer: {exc}") from exc


def closed_error() -> HostAPIError:
    return HostAPIError("runtime_error", "The connection to the host is closed.")


# the queue items of a streamed call: events, then the response frame
StreamQueue = asyncio.Queue[StreamEvent | wire.Frame]
