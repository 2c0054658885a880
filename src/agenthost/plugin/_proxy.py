"""HostProxy: the plugin's `host`. Each call is a JSON-RPC request to the host process
carrying the run id; the host authorizes it against that run's resources and answers."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from agenthost.core.errors import HostAPIError
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.core.state import Scope
from agenthost.ports import wire
from agenthost.ports.artifacts import Artifact, ArtifactInfo
from agenthost.ports.knowledge import Chunk, MemoryInfo
from agenthost.ports.models import ModelResponse, ModelSettings, StreamEvent, ToolSpec
from agenthost.ports.protocol import HistoryPage, Host
from agenthost.ports.tools import ToolOutput

if TYPE_CHECKING:
    from agenthost.plugin._endpoint import Endpoint

Send = Callable[[bytes], object]


class _Channel:
    """One run's way to the host: each call a JSON-RPC request carrying the run id."""

    __slots__ = ("_endpoint", "_send", "run_id")

    def __init__(self, endpoint: Endpoint, run_id: str, send: Send) -> None:
        self._endpoint = endpoint
        self.run_id = run_id
        self._send = send

    async def call(self, method: str, params: Any, result_type: Any = Any) -> Any:
        request_id, future = self._endpoint.expect_response()
        try:
            self._send(wire.request(request_id, method, params))
            frame = await future
        finally:
            self._endpoint.forget(request_id)
        return _result(frame, result_type)

    async def stream(self, method: str, params: Any) -> AsyncGenerator[StreamEvent, None]:
        request_id, queue = self._endpoint.expect_stream()
        try:
            self._send(wire.request(request_id, method, params))
            while True:
                item = await queue.get()
                if isinstance(item, wire.Frame):
                    _result(item, Any)  # raises the host's refusal, if any
                    return
                yield item
        finally:
            self._endpoint.forget(request_id)


class _Capability:
    __slots__ = ("_ch",)

    def __init__(self, channel: _Channel) -> None:
        self._ch = channel


class ProxyModels(_Capability):
    __slots__ = ()

    def _params(
        self,
        model_id: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None,
    ) -> wire.ModelParams:
        return wire.ModelParams(
            run_id=self._ch.run_id,
            model_id=model_id,
            messages=list(messages),
            tools=list(tools),
            settings=settings,
        )

    async def invoke(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        params = self._params(model_id, messages, tools, settings)
        response: ModelResponse = await self._ch.call("host.invoke_model", params, ModelResponse)
        return response

    def stream(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        params = self._params(model_id, messages, tools, settings)
        return self._ch.stream("host.stream_model", params)


class ProxyTools(_Capability):
    __slots__ = ()

    async def detail(self, tool_name: str) -> ToolSpec:
        params = wire.ToolNameParams(run_id=self._ch.run_id, tool_name=tool_name)
        spec: ToolSpec = await self._ch.call("host.tool_detail", params, ToolSpec)
        return spec

    async def call(
        self, tool_name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutput:
        params = wire.CallToolParams(
            run_id=self._ch.run_id, tool_name=tool_name, arguments=arguments, timeout=timeout
        )
        output: ToolOutput = await self._ch.call("host.call_tool", params, ToolOutput)
        return output


class ProxyKnowledge(_Capability):
    __slots__ = ()

    async def retrieve(
        self, kb_id: str, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]:
        params = wire.RetrieveParams(
            run_id=self._ch.run_id, kb_id=kb_id, query=query, top_k=top_k, filters=filters
        )
        chunks: list[Chunk] = await self._ch.call("host.retrieve", params, list[Chunk])
        return chunks


class ProxyHistory(_Capability):
    __slots__ = ()

    async def messages(self) -> list[Message]:
        params = wire.RunOnlyParams(run_id=self._ch.run_id)
        found: list[Message] = await self._ch.call("host.history_messages", params, list[Message])
        return found

    async def page(self, *, before: int | None = None, limit: int = 50) -> HistoryPage:
        params = wire.HistoryPageParams(run_id=self._ch.run_id, before=before, limit=limit)
        page: HistoryPage = await self._ch.call("host.history_page", params, HistoryPage)
        return page

    async def search(self, query: str, *, limit: int = 20) -> list[Event]:
        params = wire.SearchParams(run_id=self._ch.run_id, query=query, limit=limit)
        events: list[Event] = await self._ch.call("host.history_search", params, list[Event])
        return events

    async def event(self, event_id: str) -> Event:
        params = wire.EventGetParams(run_id=self._ch.run_id, event_id=event_id)
        event: Event = await self._ch.call("host.event_get", params, Event)
        return event

    async def events(self, *, after: int = 0, limit: int = 50) -> HistoryPage:
        params = wire.EventPageParams(run_id=self._ch.run_id, after=after, limit=limit)
        page: HistoryPage = await self._ch.call("host.event_page", params, HistoryPage)
        return page


class ProxyState(_Capability):
    __slots__ = ()

    async def get(self, scope: Scope, key: str) -> Any:
        params = wire.StateKeyParams(run_id=self._ch.run_id, scope=scope, key=key)
        return await self._ch.call("host.state_get", params)

    async def set(self, scope: Scope, key: str, value: Any) -> None:
        params = wire.StateSetParams(run_id=self._ch.run_id, scope=scope, key=key, value=value)
        await self._ch.call("host.state_set", params)

    async def delete(self, scope: Scope, key: str) -> None:
        params = wire.StateKeyParams(run_id=self._ch.run_id, scope=scope, key=key)
        await self._ch.call("host.state_delete", params)


class ProxyStorage(_Capability):
    __slots__ = ()

    async def get(self, key: str) -> Any:
        params = wire.StorageKeyParams(run_id=self._ch.run_id, key=key)
        return await self._ch.call("host.storage_get", params)

    async def set(self, key: str, value: Any) -> None:
        params = wire.StorageSetParams(run_id=self._ch.run_id, key=key, value=value)
        await self._ch.call("host.storage_set", params)

    async def delete(self, key: str) -> None:
        params = wire.StorageKeyParams(run_id=self._ch.run_id, key=key)
        await self._ch.call("host.storage_delete", params)

    async def keys(self) -> list[str]:
        params = wire.RunOnlyParams(run_id=self._ch.run_id)
        keys: list[str] = await self._ch.call("host.storage_list", params, list[str])
        return keys


class ProxyArtifacts(_Capability):
    """The run's artifacts; bytes travel as base64 (msgspec encodes `bytes` so)."""

    __slots__ = ()

    async def save(
        self,
        name: str,
        data: bytes,
        *,
        mime_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
    ) -> ArtifactInfo:
        params = wire.ArtifactSaveParams(
            run_id=self._ch.run_id, name=name, data=data, mime_type=mime_type, metadata=metadata
        )
        info: ArtifactInfo = await self._ch.call("host.artifacts_save", params, ArtifactInfo)
        return info

    async def load(self, name: str, *, version: int | None = None) -> Artifact | None:
        params = wire.ArtifactLoadParams(run_id=self._ch.run_id, name=name, version=version)
        found: Artifact | None = await self._ch.call("host.artifacts_load", params, Artifact | None)
        return found

    async def list(self) -> list[ArtifactInfo]:
        params = wire.RunOnlyParams(run_id=self._ch.run_id)
        found: list[ArtifactInfo] = await self._ch.call(
            "host.artifacts_list", params, list[ArtifactInfo]
        )
        return found

    async def versions(self, name: str) -> builtins.list[ArtifactInfo]:
        params = wire.ArtifactNameParams(run_id=self._ch.run_id, name=name)
        found: list[ArtifactInfo] = await self._ch.call(
            "host.artifacts_versions", params, builtins.list[ArtifactInfo]
        )
        return found

    async def delete(self, name: str) -> bool:
        params = wire.ArtifactNameParams(run_id=self._ch.run_id, name=name)
        deleted: bool = await self._ch.call("host.artifacts_delete", params, bool)
        return deleted


class ProxyMemory(_Capability):
    """The long-term memory of the run's user (the host knows which user; no call names one)."""

    __slots__ = ()

    async def search(self, query: str, *, top_k: int = 3) -> list[Chunk]:
        params = wire.MemorySearchParams(run_id=self._ch.run_id, query=query, top_k=top_k)
        chunks: list[Chunk] = await self._ch.call("host.memory_search", params, list[Chunk])
        return chunks

    async def add(self, text: str, *, metadata: dict[str, Any] | None = None) -> str:
        params = wire.MemoryAddParams(run_id=self._ch.run_id, text=text, metadata=metadata)
        memory_id: str = await self._ch.call("host.memory_add", params, str)
        return memory_id

    async def list(self) -> builtins.list[MemoryInfo]:
        params = wire.RunOnlyParams(run_id=self._ch.run_id)
        found: list[MemoryInfo] = await self._ch.call(
            "host.memory_list", params, builtins.list[MemoryInfo]
        )
        return found

    async def delete(self, memory_id: str) -> bool:
        params = wire.MemoryIdParams(run_id=self._ch.run_id, memory_id=memory_id)
        deleted: bool = await self._ch.call("host.memory_delete", params, bool)
        return deleted


def HostProxy(endpoint: Endpoint, run_id: str, send: Send) -> Host:
    """The HostAPI of one run over JSON-RPC (see ports.protocol.HostAPI for the contract).
    Every call carries this run's id and nothing else can be named. Refusals raise
    `HostAPIError` with the host's code, as in-process."""
    channel = _Channel(endpoint, run_id, send)
    return Host(
        run_id,
        models=ProxyModels(channel),
        tools=ProxyTools(channel),
        knowledge=ProxyKnowledge(channel),
        history=ProxyHistory(channel),
        state=ProxyState(channel),
        storage=ProxyStorage(channel),
        artifacts=ProxyArtifacts(channel),
        memory=ProxyMemory(channel),
    )


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
