"""Answering a plugin's `host.*` requests through the real HostAPI of its run.

Two checks come before the host's own: the request must name the run it arrived for, and the
plugin's manifest must have declared the permission the method needs (a plugin that did not
declare `tools` gets `unauthorized` for `host.call_tool`, whatever the run was granted). Then
the run's HostAPI authorizes the call against the run's resources, as for any agent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from agenthost.core.errors import AgentHostError, HostAPIError
from agenthost.ports import wire
from agenthost.ports.protocol import HostAPI, Permissions

log = logging.getLogger("agenthost.plugins")

Reply = Callable[[bytes], Awaitable[None]]


def _needs(method: str, params: Any, perms: Permissions) -> str | None:
    """The permission `method` needs that the manifest lacks, or None."""
    group = method.removeprefix("host.")
    if group in ("invoke_model", "stream_model"):
        return None if perms.models else "models"
    if group in ("tool_detail", "call_tool"):
        return None if perms.tools else "tools"
    if group == "retrieve":
        return None if perms.knowledge_bases else "knowledge_bases"
    if group in ("history_messages", "history_page"):
        return None if "page" in perms.history else "history: page"
    if group == "history_search":
        return None if "search" in perms.history else "history: search"
    if group in ("event_get", "event_page"):
        op = group.removeprefix("event_")
        return None if op in perms.events else f"events: {op}"
    if group.startswith("state_"):
        return None if params.scope in perms.state else f"state: {params.scope}"
    if group.startswith("storage_"):
        return None if perms.storage else "storage"
    if group.startswith("artifacts_"):
        return None if perms.artifacts else "artifacts"
    if group.startswith("memory_"):
        return None if perms.memory else "memory"
    return f"an unknown method {method!r}"  # pragma: no cover - HOST_METHODS lists them all


async def _call(method: str, host: HostAPI, p: Any, request_id: Any, reply: Reply) -> Any:
    match method:
        case "host.invoke_model":
            return await host.models.invoke(
                p.model_id, p.messages, tools=p.tools, settings=p.settings
            )
        case "host.stream_model":
            async for event in host.models.stream(
                p.model_id, p.messages, tools=p.tools, settings=p.settings
            ):
                body = {"request_id": request_id, "event": event}
                await reply(wire.notification("host.stream_event", body))
            return None
        case "host.tool_detail":
            return await host.tools.detail(p.tool_name)
        case "host.call_tool":
            return await host.tools.call(p.tool_name, p.arguments, timeout=p.timeout)
        case "host.retrieve":
            return await host.knowledge.retrieve(p.kb_id, p.query, top_k=p.top_k, filters=p.filters)
        case "host.history_messages":
            return await host.history.messages()
        case "host.history_page":
            return await host.history.page(before=p.before, limit=p.limit)
        case "host.history_search":
            return await host.history.search(p.query, limit=p.limit)
        case "host.event_get":
            return await host.history.event(p.event_id)
        case "host.event_page":
            return await host.history.events(after=p.after, limit=p.limit)
        case "host.state_get":
            return await host.state.get(p.scope, p.key)
        case "host.state_set":
            return await host.state.set(p.scope, p.key, p.value)
        case "host.state_delete":
            return await host.state.delete(p.scope, p.key)
        case "host.storage_get":
            return await host.storage.get(p.key)
        case "host.storage_set":
            return await host.storage.set(p.key, p.value)
        case "host.storage_delete":
            return await host.storage.delete(p.key)
        case "host.storage_list":
            return await host.storage.keys()
        case _ if method.startswith("host.artifacts_"):
            return await _artifacts(method, host, p)
        case _ if method.startswith("host.memory_"):
            return await _memory(method, host, p)
    raise AssertionError(method)  # pragma: no cover - HOST_METHODS lists them all


async def _memory(method: str, host: HostAPI, p: Any) -> Any:
    """`host.memory_*`: the run's `host.memory` (its own user's), authorized there."""
    memory = host.memory
    if memory is None:
        raise HostAPIError("unauthorized", "This host has no memory store.")
    match method:
        case "host.memory_search":
            return await memory.search(p.query, top_k=p.top_k)
        case "host.memory_add":
            return await memory.add(p.text, metadata=p.metadata)
        case "host.memory_list":
            return await memory.list()
    return await memory.delete(p.memory_id)


async def _artifacts(method: str, host: HostAPI, p: Any) -> Any:
    """`host.artifacts_*`: the run's `host.artifacts`, authorized there like any agent's."""
    artifacts = host.artifacts
    if artifacts is None:
        raise HostAPIError("unauthorized", "This host has no artifact store.")
    match method:
        case "host.artifacts_save":
            return await artifacts.save(p.name, p.data, mime_type=p.mime_type, metadata=p.metadata)
        case "host.artifacts_load":
            return await artifacts.load(p.name, version=p.version)
        case "host.artifacts_list":
            return await artifacts.list()
        case "host.artifacts_versions":
            return await artifacts.versions(p.name)
        case _:
            return await artifacts.delete(p.name)


async def serve_host_call(
    frame: wire.Frame,
    *,
    host: HostAPI,
    run_id: str,
    permissions: Permissions,
    plugin: str,
    reply: Reply,
) -> None:
    """Answer one `host.*` request of run `run_id` with `reply` (never raises but
    cancellation)."""
    method = frame.method
    request_id = frame.id
    assert isinstance(method, str) and not isinstance(request_id, msgspec.UnsetType)
    try:
        params_type = wire.HOST_METHODS.get(method)
        if params_type is None:
            error = wire.RpcError(code=wire.METHOD_NOT_FOUND, message=f"no host method {method!r}")
            await reply(wire.error_response(request_id, error))
            return
        params = wire.decode_params(frame, params_type)
        if params.run_id != run_id:
            raise HostAPIError(
                "unauthorized",
                f"A call for run {params.run_id!r} came on the channel of run {run_id!r}.",
            )
        missing = _needs(method, params, permissions)
        if missing is not None:
            log.warning("plugin %s called %s without declaring %s", plugin, method, missing)
            raise HostAPIError(
                "unauthorized",
                f"Plugin {plugin!r} did not declare the permission {missing!r} in its manifest, "
                f"which {method} needs.",
            )
        result = await _call(method, host, params, request_id, reply)
        answer = wire.response(request_id, result)
    except HostAPIError as exc:
        answer = wire.error_response(request_id, wire.host_error(exc))
    except wire.ProtocolError as exc:
        refusal = HostAPIError("invalid_argument", str(exc))
        answer = wire.error_response(request_id, wire.host_error(refusal))
    except AgentHostError as exc:  # a model or tool failure: runtime_error, its code in details
        failure = HostAPIError(
            "runtime_error", exc.message, retryable=exc.retryable, details={"error": exc.code}
        )
        answer = wire.error_response(request_id, wire.host_error(failure))
    except Exception as exc:
        log.exception("host call %s of plugin %s failed", method, plugin)
        failure = HostAPIError("runtime_error", f"{type(exc).__name__}: {exc}")
        answer = wire.error_response(request_id, wire.host_error(failure))
    await reply(answer)
