"""The HostAPI implementation: what an agent may call during its run.

One `Gate` is bound to one active run and is the only place that authorizes: every capability
call first passes it, and it refuses with a typed `HostAPIError` when the run is no longer
active, its deadline has passed, or the resource was not granted to this run. Refusals are
logged. The capability objects (models, tools, knowledge, history, state, storage, artifacts,
memory) hold only the gate; `run_host(run)` composes them into the run's `Host`.

Artifacts are always the run's own: the store is called with the run's app, user and session,
never with ids the agent gives. A tool output over the grant's `spill_chars` (and any image or
file a tool returns) is saved as an artifact and the model reads a reference (`spill_output`).
Memory likewise: every call names the run's own user, never one the agent gives.
"""

from __future__ import annotations

import builtins
import logging
import mimetypes
import re
import time
from collections.abc import AsyncGenerator, Coroutine, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import msgspec

from agenthost.core.errors import HostAPIError, InvalidArgument
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.core.state import Scope, scoped_key
from agenthost.engine import tracing
from agenthost.engine.approval import is_approved, needs_approval
from agenthost.engine.history import HistoryView
from agenthost.engine.tool_exec import execute_tool
from agenthost.ports.artifacts import (
    USER_PREFIX,
    Artifact,
    ArtifactInfo,
    ArtifactStore,
    artifact_ref,
    check_name,
)
from agenthost.ports.knowledge import Chunk, KnowledgeBase, LongTermMemory, MemoryInfo
from agenthost.ports.models import (
    ChatModel,
    ModelResponse,
    ModelSettings,
    ResponseDone,
    StreamEvent,
    ToolSpec,
)
from agenthost.ports.protocol import (
    ArtifactsResource,
    HistoryPage,
    Host,
    HostAPI,
    MemoryResource,
    RunContext,
    StateUpdated,
)
from agenthost.ports.sessions import KeyValueStore
from agenthost.ports.tools import Tool, ToolOutput

if TYPE_CHECKING:
    from agenthost.engine.active import ActiveRun

log = logging.getLogger("agenthost.host")

_json = msgspec.json.Encoder()

# the run whose tool is executing (set by `RunTools.call`), for tools that run agents
_tool_run: ContextVar[tuple[HostAPI, ActiveRun] | None] = ContextVar(
    "agenthost_tool_run", default=None
)


def current_run() -> tuple[HostAPI, RunContext] | None:
    """The host and context of the run whose tool is executing in this task, or None outside
    a tool call. `agent_tool` uses it to run its agent as a sub-run of that run."""
    found = _tool_run.get()
    if found is None or found[1].context is None:
        return None
    return found[0], found[1].context


class Gate:
    """The one authorization point of a run: active, within its deadline, granted."""

    __slots__ = ("host", "run")

    def __init__(self, run: ActiveRun) -> None:
        self.run = run
        self.host: HostAPI | None = None  # the composed host, for `current_run`

    def refuse(self, code: Any, message: str, **details: Any) -> HostAPIError:
        log.warning("host API refused for run %s: %s (%s)", self.run.run_id, message, code)
        return HostAPIError(code, message, details=details)

    def check(self) -> ActiveRun:
        run = self.run
        if run.finished:
            raise self.refuse("unauthorized", f"Run {run.run_id} is not active any more.")
        if run.deadline_at is not None and time.time() > run.deadline_at:
            raise self.refuse("deadline_exceeded", f"Run {run.run_id} passed its deadline.")
        return run

    def granted(
        self,
        kind: str,
        grants: Mapping[str, frozenset[str]],
        catalog: Mapping[str, Any],
        name: str,
        op: str,
    ) -> Any:
        """The catalogue entry `name` if this run was granted `op` on it; refuses otherwise."""
        run = self.check()
        ops = grants.get(name)
        if ops is None or op not in ops:
            raise self.refuse(
                "unauthorized",
                f"{kind} {name!r} ({op}) is not granted to run {run.run_id}; granted: "
                f"{sorted(grants)}.",
                name=name,
            )
        entry = catalog.get(name)
        if entry is None:
            raise self.refuse("not_found", f"{kind} {name!r} is not loaded on this host.")
        return entry

    def history(self) -> ActiveRun:
        run = self.check()
        if not run.grants.history:
            raise self.refuse("unauthorized", "History access is not granted to this run.")
        return run

    def state_key(self, scope: Scope, key: str, *, write: bool) -> str:
        run = self.check()
        grants = run.grants
        allowed = grants.state_write if write else grants.state_read
        if scope not in allowed:
            verb = "written" if write else "read"
            raise self.refuse(
                "unauthorized", f"State scope {scope!r} may not be {verb} by this run."
            )
        if grants.state_keys is not None and key not in grants.state_keys:
            raise self.refuse("unauthorized", f"State key {key!r} is not granted to this run.")
        if not key or ":" in key:
            raise self.refuse("invalid_argument", f"Bad state key {key!r}: no ':' allowed.")
        return scoped_key(scope, key)

    def storage(self, op: str) -> tuple[str, KeyValueStore]:
        run = self.check()
        storage = run.grants.storage
        if storage is None or op not in storage.operations or run.kv is None:
            raise self.refuse("unauthorized", f"Storage ({op}) is not granted to this run.")
        return storage.namespace, run.kv

    def artifacts(
        self, op: str, name: str | None = None
    ) -> tuple[ArtifactStore, ActiveRun, ArtifactsResource]:
        """The run's artifact store if `op` is granted (and `name` is a good name in a granted
        scope); refuses otherwise."""
        run = self.check()
        grant = run.grants.artifacts
        if grant is None or run.artifacts is None or op not in grant.operations:
            raise self.refuse("unauthorized", f"Artifacts ({op}) are not granted to this run.")
        if name is not None:
            try:
                check_name(name)
            except InvalidArgument as exc:
                raise self.refuse("invalid_argument", exc.message, name=name) from exc
            if name.startswith(USER_PREFIX) and not grant.user_scope:
                raise self.refuse(
                    "unauthorized", f"User artifacts ({name!r}) are not granted to this run."
                )
        return run.artifacts, run, grant

    def memory(self, op: str) -> tuple[LongTermMemory, ActiveRun, MemoryResource]:
        """The memory store if `op` is granted to this run; refuses otherwise."""
        run = self.check()
        grant = run.grants.memory
        if grant is None or run.memory is None or op not in grant.operations:
            raise self.refuse("unauthorized", f"Memory ({op}) is not granted to this run.")
        return run.memory, run, grant

    def limit(self, name: str, value: int, most: int) -> None:
        if not 0 < value <= most:
            raise self.refuse("invalid_argument", f"{name} must be between 1 and {most}.")


class _Capability:
    __slots__ = ("_gate",)

    def __init__(self, gate: Gate) -> None:
        self._gate = gate


class RunModels(_Capability):
    __slots__ = ()

    def _model(self, model_id: str, op: str) -> ChatModel:
        run = self._gate.run
        model: ChatModel = self._gate.granted(
            "Model", run.grants.models, run.catalog.models, model_id, op
        )
        return model

    def invoke(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> Coroutine[Any, Any, ModelResponse]:
        """The model's own `request` (no frame of ours) once authorized; with tracing on,
        inside its span. A refusal is raised when awaited, as from a coroutine function."""
        try:
            model = self._model(model_id, "invoke")
        except HostAPIError as exc:
            return _raise(exc)
        request = model.request(messages, tools=tools, settings=settings)
        if not tracing.enabled():
            return request
        return self._traced_invoke(model_id, request)

    @staticmethod
    async def _traced_invoke(
        model_id: str, request: Coroutine[Any, Any, ModelResponse]
    ) -> ModelResponse:
        """`request` awaited in its model span (the request runs when awaited: inside it)."""
        with tracing.model_span(model_id) as span:
            response = await request
            tracing.record_response(span, response)
            return response

    def stream(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        model = self._model(model_id, "stream")
        if not tracing.enabled():
            return model.stream(messages, tools=tools, settings=settings)
        return self._traced(model, model_id, messages, tools, settings)

    @staticmethod
    async def _traced(
        model: ChatModel,
        model_id: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None,
    ) -> AsyncGenerator[StreamEvent, None]:
        with tracing.model_span(model_id) as span:
            async for item in model.stream(messages, tools=tools, settings=settings):
                if isinstance(item, ResponseDone):
                    tracing.record_response(span, item.response)
                yield item


async def _raise(exc: BaseException) -> Any:
    raise exc


class RunTools(_Capability):
    __slots__ = ()

    def _tool(self, tool_name: str, op: str) -> Tool:
        run = self._gate.run
        tool: Tool = self._gate.granted("Tool", run.grants.tools, run.catalog.tools, tool_name, op)
        return tool

    async def detail(self, tool_name: str) -> ToolSpec:
        spec: ToolSpec = self._tool(tool_name, "detail").spec
        return spec

    async def call(
        self, tool_name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutput:
        """Run a tool. Its failures come back as `ToolOutput(is_error=True)`; only refusals
        (HostAPIError) and cancellation raise."""
        tool = self._tool(tool_name, "call")
        gate = self._gate
        if needs_approval(tool) and not is_approved(tool_name):
            raise gate.refuse(
                "unauthorized",
                f"Tool {tool_name!r} needs a person's approval before each call, which only "
                f"an LLMAgent's tool loop asks for (see docs/tools.md, Human approval).",
                name=tool_name,
            )
        run = gate.run
        token = _tool_run.set((gate.host, run) if gate.host is not None else None)
        try:
            if tracing.enabled():
                with tracing.tool_span(tool_name) as span:
                    output = await execute_tool(tool, arguments, timeout=timeout)
                    tracing.record_tool(span, output)
            else:
                output = await execute_tool(tool, arguments, timeout=timeout)
        finally:
            _tool_run.reset(token)
        if run.artifacts is None or run.grants.artifacts is None:  # nothing to spill into
            return output
        return await spill_output(run, tool_name, output)


class RunKnowledge(_Capability):
    __slots__ = ()

    async def retrieve(
        self, kb_id: str, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]:
        gate = self._gate
        run = gate.run
        kb: KnowledgeBase = gate.granted(
            "Knowledge base", run.grants.knowledge, run.catalog.knowledge, kb_id, "retrieve"
        )
        gate.limit("top_k", top_k, 100)
        return await kb.retrieve(query, top_k=top_k, filters=filters)


class RunHistory(_Capability):
    __slots__ = ()

    async def messages(self) -> list[Message]:
        run = self._gate.check()
        return run.history.messages(run.session)

    async def view(self) -> HistoryView:
        """The messages with their events' seqs and the summary they start with (what
        compaction needs; engine/compaction.py). Not part of the HostAPI protocol."""
        run = self._gate.check()
        return run.history.view(run.session)

    async def page(self, *, before: int | None = None, limit: int = 50) -> HistoryPage:
        run = self._gate.history()
        self._gate.limit("limit", limit, 500)
        events = [e for e in run.session.events if e.message is not None]
        if before is not None:
            events = [e for e in events if e.seq < before]
        page = events[-limit:]
        more = len(events) > limit
        return HistoryPage(events=page, next_cursor=page[0].seq if more and page else None)

    async def search(self, query: str, *, limit: int = 20) -> list[Event]:
        run = self._gate.history()
        needle = query.lower()
        hits = [
            e
            for e in run.session.events
            if e.message is not None and needle in e.message.text.lower()
        ]
        return hits[-limit:]

    async def event(self, event_id: str) -> Event:
        run = self._gate.history()
        for event in reversed(run.session.events):
            if event.id == event_id:
                return event
        raise self._gate.refuse("not_found", f"No event {event_id!r} in this session.")

    async def events(self, *, after: int = 0, limit: int = 50) -> HistoryPage:
        run = self._gate.history()
        events = [e for e in run.session.events if e.seq > after][:limit]
        last = events[-1].seq if events else None
        more = bool(events) and run.session.events[-1].seq > (last or 0)
        return HistoryPage(events=events, next_cursor=last if more else None)


class RunState(_Capability):
    __slots__ = ()

    async def get(self, scope: Scope, key: str) -> Any:
        full = self._gate.state_key(scope, key, write=False)
        run = self._gate.run
        if scope == "temp":
            return run.temp_state.get(key)
        if full in run.pending_state:
            return run.pending_state[full]
        return run.session.state.get(full)

    async def set(self, scope: Scope, key: str, value: Any) -> None:
        full = self._gate.state_key(scope, key, write=True)
        run = self._gate.run
        if scope == "temp":
            run.temp_state[key] = value
            return
        size = len(_json.encode(value))
        if size > run.grants.max_state_bytes:
            raise self._gate.refuse(
                "payload_too_large", f"State value for {key!r} is {size} bytes."
            )
        run.pending_state[full] = value
        run.queued_results.append(StateUpdated(scope=scope, key=key, value=value))

    async def delete(self, scope: Scope, key: str) -> None:
        await self.set(scope, key, None)


class RunStorage(_Capability):
    __slots__ = ()

    async def get(self, key: str) -> Any:
        namespace, kv = self._gate.storage("get")
        return await kv.kv_get(namespace, key)

    async def set(self, key: str, value: Any) -> None:
        namespace, kv = self._gate.storage("set")
        storage = self._gate.run.grants.storage
        assert storage is not None
        if len(_json.encode(value)) > storage.max_value_bytes:
            raise self._gate.refuse("payload_too_large", f"Storage value for {key!r} too big.")
        await kv.kv_set(namespace, key, value)

    async def delete(self, key: str) -> None:
        namespace, kv = self._gate.storage("delete")
        await kv.kv_delete(namespace, key)

    async def keys(self) -> list[str]:
        namespace, kv = self._gate.storage("list")
        return list(await kv.kv_keys(namespace))


class RunArtifacts(_Capability):
    """The session's artifacts (and the user's `user:` ones): always the run's own."""

    __slots__ = ()

    async def save(
        self,
        name: str,
        data: bytes,
        *,
        mime_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
    ) -> ArtifactInfo:
        store, run, grant = self._gate.artifacts("save", name)
        if len(data) > grant.max_bytes:
            raise self._gate.refuse(
                "payload_too_large",
                f"Artifact {name!r} is {len(data)} bytes; this run may save at most "
                f"{grant.max_bytes}.",
            )
        key = run.key
        return await store.save(
            app=key.app,
            user_id=key.user_id,
            session_id=key.session_id,
            name=name,
            data=data,
            mime_type=mime_type,
            metadata=metadata,
        )

    async def load(self, name: str, *, version: int | None = None) -> Artifact | None:
        store, run, _ = self._gate.artifacts("load", name)
        key = run.key
        return await store.load(
            app=key.app, user_id=key.user_id, session_id=key.session_id, name=name, version=version
        )

    async def list(self) -> list[ArtifactInfo]:
        store, run, grant = self._gate.artifacts("list")
        key = run.key
        found = await store.list(app=key.app, user_id=key.user_id, session_id=key.session_id)
        if grant.user_scope:
            return found
        return [info for info in found if not info.name.startswith(USER_PREFIX)]

    async def versions(self, name: str) -> builtins.list[ArtifactInfo]:
        store, run, _ = self._gate.artifacts("list", name)
        key = run.key
        return await store.versions(
            app=key.app, user_id=key.user_id, session_id=key.session_id, name=name
        )

    async def delete(self, name: str) -> bool:
        store, run, _ = self._gate.artifacts("delete", name)
        key = run.key
        return await store.delete(
            app=key.app, user_id=key.user_id, session_id=key.session_id, name=name
        )


class RunMemory(_Capability):
    """The long-term memory of the run's user: every call names the run's own user."""

    __slots__ = ()

    async def search(self, query: str, *, top_k: int = 3) -> list[Chunk]:
        store, run, grant = self._gate.memory("search")
        self._gate.limit("top_k", top_k, grant.max_top_k)
        return await store.search(run.key.user_id, query, top_k=top_k)

    async def add(self, text: str, *, metadata: dict[str, Any] | None = None) -> str:
        store, run, grant = self._gate.memory("add")
        if not text.strip():
            raise self._gate.refuse("invalid_argument", "A memory needs some text.")
        if len(text) > grant.max_chars:
            raise self._gate.refuse(
                "payload_too_large",
                f"The memory is {len(text)} characters; this run may add at most "
                f"{grant.max_chars}.",
            )
        meta = {**(metadata or {}), "run_id": run.run_id, "session_id": run.key.session_id}
        return await store.add(run.key.user_id, text, app=run.key.app, metadata=meta)

    async def list(self) -> builtins.list[MemoryInfo]:
        store, run, _ = self._gate.memory("list")
        return await store.memories(run.key.user_id)

    async def delete(self, memory_id: str) -> bool:
        store, run, _ = self._gate.memory("delete")
        try:
            await store.forget(run.key.user_id, memory_id)
        except InvalidArgument:
            return False
        return True


def agent_memory(agent: object) -> LongTermMemory | None:
    """The memory store of an agent that has one (LLMAgent's `memory.memory`), else None."""
    use = getattr(agent, "memory", None)
    store = getattr(use, "memory", None)
    return store if isinstance(store, LongTermMemory) else None


_TOOL_NAME = re.compile(r"[^A-Za-z0-9._-]+")


async def spill_output(run: ActiveRun, tool_name: str, output: ToolOutput) -> ToolOutput:
    """A tool output the model can read: text over the grant's `spill_chars` is saved whole
    as `tool-outputs/<tool>.txt` (a new version each time) and cut, with the reference; each
    image or file the tool returned is saved too and named in the text. Without an artifact
    store (or the `save` grant) the output is unchanged."""
    grant, store = run.grants.artifacts, run.artifacts
    limit = grant.spill_chars if grant is not None else None
    long = limit is not None and len(output.content) > limit
    if grant is None or store is None or "save" not in grant.operations:
        return output
    if not long and not output.parts:
        return output
    key = run.key
    base = "tool-outputs/" + (_TOOL_NAME.sub("_", tool_name).strip("._") or "tool")
    content = output.content
    notes: list[str] = []
    if long and limit is not None:
        data = content.encode()
        info = await store.save(
            app=key.app,
            user_id=key.user_id,
            session_id=key.session_id,
            name=base + ".txt",
            data=data,
            mime_type="text/plain; charset=utf-8",
            metadata={"source": "tool", "tool": tool_name, "run_id": run.run_id},
        )
        content = content[:limit]
        notes.append(
            f"[truncated: {len(output.content) - limit} more characters; the whole output "
            f"({len(data)} bytes) is saved as {artifact_ref(info.name, info.version)}]"
        )
    for index, part in enumerate(output.parts):
        if part.data is None:
            continue
        extension = mimetypes.guess_extension(part.mime_type) or ".bin"
        info = await store.save(
            app=key.app,
            user_id=key.user_id,
            session_id=key.session_id,
            name=f"{base}-{index}{extension}",
            data=part.data,
            mime_type=part.mime_type,
            metadata={"source": "tool", "tool": tool_name, "run_id": run.run_id},
        )
        notes.append(f"[{part.mime_type} saved as {artifact_ref(info.name, info.version)}]")
    if not notes:
        return output
    return ToolOutput(
        content="\n".join([content, *notes]), is_error=output.is_error, parts=output.parts
    )


def run_host(run: ActiveRun) -> Host:
    """The HostAPI of one active run: its capabilities, all behind one `Gate`."""
    gate = Gate(run)
    host = Host(
        run.run_id,
        models=RunModels(gate),
        tools=RunTools(gate),
        knowledge=RunKnowledge(gate),
        history=RunHistory(gate),
        state=RunState(gate),
        storage=RunStorage(gate),
        artifacts=RunArtifacts(gate),
        memory=RunMemory(gate) if run.memory is not None else None,
    )
    gate.host = host
    run.gate = gate  # released by the runner when the run ends (ActiveRun.release)
    return host


RunHost = run_host  # the name of the first implementation
