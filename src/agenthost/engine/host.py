"""The HostAPI implementation: what an agent may call during its run.

One `RunHost` is bound to one active run. Every call first passes `_check`, which refuses with
a typed `HostAPIError` when the run is no longer active, its deadline has passed, or the
resource was not granted to this run; then it does the work. Refusals are logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import msgspec

from agenthost.core.errors import HostAPIError
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.core.state import Scope, scoped_key
from agenthost.engine import tracing
from agenthost.ports.knowledge import Chunk, KnowledgeBase
from agenthost.ports.models import ChatModel, ModelResponse, ModelSettings, StreamEvent, ToolSpec
from agenthost.ports.protocol import HistoryPage, HostAPI, RunContext, StateUpdated
from agenthost.ports.tools import Tool, ToolOutput

if TYPE_CHECKING:
    from agenthost.engine.active import ActiveRun

log = logging.getLogger("agenthost.host")

_json = msgspec.json.Encoder()

# the run whose tool is executing (set by `RunHost.call_tool`), for tools that run agents
_tool_run: ContextVar[RunHost | None] = ContextVar("agenthost_tool_run", default=None)


def current_run() -> tuple[HostAPI, RunContext] | None:
    """The host and context of the run whose tool is executing in this task, or None outside
    a tool call. `agent_tool` uses it to run its agent as a sub-run of that run."""
    host = _tool_run.get()
    if host is None or host._run.context is None:
        return None
    return host, host._run.context


def _refuse(run: ActiveRun, code: Any, message: str, **details: Any) -> HostAPIError:
    log.warning("host API refused for run %s: %s (%s)", run.run_id, message, code)
    return HostAPIError(code, message, details=details)


class RunHost:
    """HostAPI for one run (see ports.protocol.HostAPI for the contract)."""

    __slots__ = ("_run",)

    def __init__(self, run: ActiveRun) -> None:
        self._run = run

    @property
    def run_id(self) -> str:
        return self._run.run_id

    # ---- checks ---------------------------------------------------------------------------

    def _check(self) -> ActiveRun:
        run = self._run
        if run.finished:
            raise _refuse(run, "unauthorized", f"Run {run.run_id} is not active any more.")
        if run.deadline_at is not None and time.time() > run.deadline_at:
            raise _refuse(run, "deadline_exceeded", f"Run {run.run_id} passed its deadline.")
        return run

    def _granted(self, kind: str, name: str, op: str) -> Any:
        """The catalogue entry `name` of `kind` (model, tool, knowledge base) if this run was
        granted `op` on it; refuses otherwise."""
        run = self._check()
        grants: dict[str, frozenset[str]]
        catalog: Mapping[str, Any]
        if kind == "Model":
            grants, catalog = run.grants.models, run.catalog.models
        elif kind == "Tool":
            grants, catalog = run.grants.tools, run.catalog.tools
        else:
            grants, catalog = run.grants.knowledge, run.catalog.knowledge
        ops = grants.get(name)
        if ops is None or op not in ops:
            raise _refuse(
                run,
                "unauthorized",
                f"{kind} {name!r} ({op}) is not granted to run {run.run_id}; granted: "
                f"{sorted(grants)}.",
                name=name,
            )
        entry = catalog.get(name)
        if entry is None:
            raise _refuse(run, "not_found", f"{kind} {name!r} is not loaded on this host.")
        return entry

    def _model(self, model_id: str, op: str) -> ChatModel:
        model: ChatModel = self._granted("Model", model_id, op)
        return model

    # ---- models ---------------------------------------------------------------------------

    async def invoke_model(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        model = self._model(model_id, "invoke")
        with tracing.model_span(model_id):
            return await model.request(messages, tools=tools, settings=settings)

    async def stream_model(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[StreamEvent]:
        model = self._model(model_id, "stream")
        with tracing.model_span(model_id):
            async for item in model.stream(messages, tools=tools, settings=settings):
                yield item

    # ---- tools ----------------------------------------------------------------------------

    def _tool(self, tool_name: str, op: str) -> Tool:
        tool: Tool = self._granted("Tool", tool_name, op)
        return tool

    async def tool_detail(self, tool_name: str) -> ToolSpec:
        spec: ToolSpec = self._tool(tool_name, "detail").spec
        return spec

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutput:
        """Run a tool. Its failures come back as `ToolOutput(is_error=True)`; only refusals
        (HostAPIError) and cancellation raise."""
        tool = self._tool(tool_name, "call")
        from agenthost.engine.tool_exec import execute_tool

        token = _tool_run.set(self)
        try:
            with tracing.tool_span(tool_name):
                return await execute_tool(tool, arguments, timeout=timeout)
        finally:
            _tool_run.reset(token)

    # ---- knowledge ------------------------------------------------------------------------

    async def retrieve(
        self, kb_id: str, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]:
        kb: KnowledgeBase = self._granted("Knowledge base", kb_id, "retrieve")
        if not 0 < top_k <= 100:
            raise _refuse(self._run, "invalid_argument", "top_k must be between 1 and 100.")
        return await kb.retrieve(query, top_k=top_k, filters=filters)

    # ---- history and events ---------------------------------------------------------------

    async def history_messages(self) -> list[Message]:
        run = self._check()
        return run.history.messages(run.session)

    async def history_page(self, *, before: int | None = None, limit: int = 50) -> HistoryPage:
        run = self._check()
        self._need_history(run)
        if not 0 < limit <= 500:
            raise _refuse(run, "invalid_argument", "limit must be between 1 and 500.")
        events = [e for e in run.session.events if e.message is not None]
        if before is not None:
            events = [e for e in events if e.seq < before]
        page = events[-limit:]
        more = len(events) > limit
        return HistoryPage(events=page, next_cursor=page[0].seq if more and page else None)

    async def history_search(self, query: str, *, limit: int = 20) -> list[Event]:
        run = self._check()
        self._need_history(run)
        needle = query.lower()
        hits = [
            e
            for e in run.session.events
            if e.message is not None and needle in e.message.text.lower()
        ]
        return hits[-limit:]

    async def event_get(self, event_id: str) -> Event:
        run = self._check()
        self._need_history(run)
        for event in reversed(run.session.events):
            if event.id == event_id:
                return event
        raise _refuse(run, "not_found", f"No event {event_id!r} in this session.")

    async def event_page(self, *, after: int = 0, limit: int = 50) -> HistoryPage:
        run = self._check()
        self._need_history(run)
        events = [e for e in run.session.events if e.seq > after][:limit]
        last = events[-1].seq if events else None
        more = bool(events) and run.session.events[-1].seq > (last or 0)
        return HistoryPage(events=events, next_cursor=last if more else None)

    def _need_history(self, run: ActiveRun) -> None:
        if not run.grants.history:
            raise _refuse(run, "unauthorized", "History access is not granted to this run.")

    # ---- state ----------------------------------------------------------------------------

    def _state_key(self, scope: Scope, key: str, write: bool) -> str:
        run = self._check()
        allowed = run.grants.state_write if write else run.grants.state_read
        if scope not in allowed:
            verb = "written" if write else "read"
            raise _refuse(
                run, "unauthorized", f"State scope {scope!r} may not be {verb} by this run."
            )
        if run.grants.state_keys is not None and key not in run.grants.state_keys:
            raise _refuse(run, "unauthorized", f"State key {key!r} is not granted to this run.")
        if not key or ":" in key:
            raise _refuse(run, "invalid_argument", f"Bad state key {key!r}: no ':' allowed.")
        return scoped_key(scope, key)

    async def state_get(self, scope: Scope, key: str) -> Any:
        full = self._state_key(scope, key, write=False)
        run = self._run
        if scope == "temp":
            return run.temp_state.get(key)
        if full in run.pending_state:
            return run.pending_state[full]
        return run.session.state.get(full)

    async def state_set(self, scope: Scope, key: str, value: Any) -> None:
        full = self._state_key(scope, key, write=True)
        run = self._run
        if scope == "temp":
            run.temp_state[key] = value
            return
        size = len(_json.encode(value))
        if size > run.grants.max_state_bytes:
            raise _refuse(run, "payload_too_large", f"State value for {key!r} is {size} bytes.")
        run.pending_state[full] = value
        run.queued_results.append(StateUpdated(scope=scope, key=key, value=value))

    async def state_delete(self, scope: Scope, key: str) -> None:
        await self.state_set(scope, key, None)

    # ---- storage --------------------------------------------------------------------------

    def _storage(self, op: str) -> str:
        run = self._check()
        storage = run.grants.storage
        if storage is None or op not in storage.operations or run.kv is None:
            raise _refuse(run, "unauthorized", f"Storage ({op}) is not granted to this run.")
        return storage.namespace

    async def storage_get(self, key: str) -> Any:
        namespace = self._storage("get")
        return await self._kv().kv_get(namespace, key)

    async def storage_set(self, key: str, value: Any) -> None:
        namespace = self._storage("set")
        storage = self._run.grants.storage
        assert storage is not None
        if len(_json.encode(value)) > storage.max_value_bytes:
            raise _refuse(self._run, "payload_too_large", f"Storage value for {key!r} too big.")
        await self._kv().kv_set(namespace, key, value)

    async def storage_delete(self, key: str) -> None:
        namespace = self._storage("delete")
        await self._kv().kv_delete(namespace, key)

    async def storage_list(self) -> list[str]:
        namespace = self._storage("list")
        keys: list[str] = await self._kv().kv_keys(namespace)
        return keys

    def _kv(self) -> Any:
        return self._run.kv
