"""HostAPI authorization: an agent reaches only what its run was granted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost.core.errors import HostAPIError
from agenthost.core.messages import Message
from agenthost.engine.runner import Runner, collect
from agenthost.ports.protocol import (
    HostAPI,
    Manifest,
    MessageCompleted,
    ModelResource,
    Permissions,
    Resources,
    ResultBatch,
    RunCompleted,
    RunContext,
    StateResource,
    StateUpdated,
    ToolResource,
)
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import ScriptedModel


async def secret_tool() -> str:
    return "secret"


async def open_tool() -> str:
    return "open"


class ProbeAgent:
    """Runs a scripted probe against the host and reports what happened."""

    def __init__(self, probe: Any) -> None:
        self.probe = probe
        self.outcomes: dict[str, str] = {}
        self.host: HostAPI | None = None

    @property
    def manifest(self) -> Manifest:
        return Manifest(id="test/probe", name="probe", permissions=Permissions(models=True))

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        self.host = host
        self.ctx = ctx
        async for item in self.probe(self, ctx, host):
            yield item
        yield RunCompleted()

    async def attempt(self, name: str, call: Any) -> Any:
        try:
            value = await call
        except HostAPIError as exc:
            self.outcomes[name] = exc.code
            return None
        self.outcomes[name] = "ok"
        return value


def make_runner(store: SessionStore, agent: ProbeAgent) -> Runner:
    return Runner(
        agent,
        store=store,
        app="t",
        models=[ScriptedModel(["hi"], name="test:allowed"), ScriptedModel([], name="test:other")],
        tools=[secret_tool, open_tool],
        resources=Resources(
            models=[ModelResource(model_id="test:allowed")],
            tools=[ToolResource(tool_name="open_tool")],
            state=StateResource(read=["app", "user", "session", "temp"], write=["session", "temp"]),
        ),
    )


async def test_grants_are_enforced_per_resource(store: SessionStore) -> None:
    async def probe(agent: ProbeAgent, ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        msgs = [Message.user("x")]
        await agent.attempt("model_ok", host.models.invoke("test:allowed", msgs))
        await agent.attempt("model_denied", host.models.invoke("test:other", msgs))
        await agent.attempt("tool_ok", host.tools.call("open_tool", {}))
        await agent.attempt("tool_denied", host.tools.call("secret_tool", {}))
        await agent.attempt("tool_detail_denied", host.tools.detail("secret_tool"))
        await agent.attempt("kb_denied", host.knowledge.retrieve("docs", "q"))
        await agent.attempt("state_app_write_denied", host.state.set("app", "k", 1))
        await agent.attempt("state_bad_key", host.state.set("session", "a:b", 1))
        await agent.attempt("storage_ok", host.storage.set("k", {"v": 1}))
        await agent.attempt("history_ok", host.history.page(limit=10))
        await agent.attempt("event_missing", host.history.event("nope"))
        await agent.attempt("bad_limit", host.history.page(limit=0))
        yield MessageCompleted(message=Message.assistant("done"))

    agent = ProbeAgent(probe)
    runner = make_runner(store, agent)
    events = await collect(runner.run("u", "s", "go"))
    assert events[-1].type == "run.completed"
    assert agent.outcomes == {
        "model_ok": "ok",
        "model_denied": "unauthorized",
        "tool_ok": "ok",
        "tool_denied": "unauthorized",
        "tool_detail_denied": "unauthorized",
        "kb_denied": "unauthorized",
        "state_app_write_denied": "unauthorized",
        "state_bad_key": "invalid_argument",
        "storage_ok": "ok",
        "history_ok": "ok",
        "event_missing": "not_found",
        "bad_limit": "invalid_argument",
    }
    assert agent.ctx.resources.models[0].model_id == "test:allowed"
    assert agent.ctx.runtime.protocol_version == "1"
    assert agent.ctx.input.text == "go"
    # after the run, the host refuses everything
    assert agent.host is not None
    with pytest.raises(HostAPIError) as info:
        await agent.host.tools.call("open_tool", {})
    assert info.value.code == "unauthorized"


async def test_state_through_host_is_stored_on_events_and_temp_is_not(store: SessionStore) -> None:
    async def probe(agent: ProbeAgent, ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        await host.state.set("session", "color", "blue")
        await host.state.set("temp", "scratch", 42)
        agent.outcomes["read_back"] = await host.state.get("session", "color")
        agent.outcomes["temp_back"] = await host.state.get("temp", "scratch")
        yield StateUpdated(scope="temp", key="other", value=1)
        yield MessageCompleted(message=Message.assistant("ok"))

    agent = ProbeAgent(probe)
    runner = make_runner(store, agent)
    events = await collect(runner.run("u", "s", "go"))
    assert agent.outcomes["read_back"] == "blue"
    assert agent.outcomes["temp_back"] == 42
    updates = [e for e in events if e.type == "state.updated"]
    assert [u.state_delta for u in updates] == [{"color": "blue"}]
    session = await runner.get_session("u", "s")
    assert session.state == {"color": "blue"}
    assert not any("temp:" in k for e in session.events for k in (e.state_delta or {}))


async def test_storage_round_trip_and_deadline_refusal(store: SessionStore) -> None:
    async def probe(agent: ProbeAgent, ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        await host.storage.set("a", [1, 2])
        agent.outcomes["get"] = await host.storage.get("a")
        agent.outcomes["keys"] = await host.storage.keys()
        await host.storage.delete("a")
        agent.outcomes["after"] = await host.storage.get("a")
        yield MessageCompleted(message=Message.assistant("ok"))

    agent = ProbeAgent(probe)
    await collect(make_runner(store, agent).run("u", "s", "go"))
    assert agent.outcomes == {"get": [1, 2], "keys": ["a"], "after": None}


def test_the_host_api_protocol_is_narrow() -> None:
    """HostAPI is the run id and eight capability objects, nothing else."""
    members = {name for name in dir(HostAPI) if not name.startswith("_")}
    assert members == {
        "run_id",
        "models",
        "tools",
        "knowledge",
        "history",
        "state",
        "storage",
        "artifacts",
        "memory",
    }


async def test_the_deprecated_flat_names_delegate_to_the_capabilities(
    store: SessionStore,
) -> None:
    async def probe(agent: ProbeAgent, ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        flat: Any = host
        await flat.state_set("session", "k", "v")
        agent.outcomes["state"] = await flat.state_get("session", "k")
        await agent.attempt("tool_denied", flat.call_tool("secret_tool", {}))
        agent.outcomes["tool"] = (await flat.call_tool("open_tool", {})).content
        yield MessageCompleted(message=Message.assistant("ok"))

    agent = ProbeAgent(probe)
    await collect(make_runner(store, agent).run("u", "s", "go"))
    assert agent.outcomes == {"state": "v", "tool_denied": "unauthorized", "tool": "open"}


async def test_a_composed_host_keeps_the_runs_gate(store: SessionStore) -> None:
    """A sub-agent's host replaces the history only: its other calls are still authorized
    against the run, and it stops working when the run ends."""
    from agenthost.engine.composition import SubHost

    async def probe(agent: ProbeAgent, ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        sub = SubHost(host, [Message.user("only this")])
        agent.host = sub
        agent.outcomes["run_id"] = sub.run_id
        agent.outcomes["history"] = [m.text for m in await sub.history.messages()]
        await agent.attempt("tool_denied", sub.tools.call("secret_tool", {}))
        agent.outcomes["tool"] = (await sub.tools.call("open_tool", {})).content
        yield MessageCompleted(message=Message.assistant("ok"))

    agent = ProbeAgent(probe)
    await collect(make_runner(store, agent).run("u", "s", "go", run_id="run-1"))
    assert agent.outcomes == {
        "run_id": "run-1",
        "history": ["only this"],
        "tool_denied": "unauthorized",
        "tool": "open",
    }
    assert agent.host is not None
    with pytest.raises(HostAPIError) as info:
        await agent.host.tools.call("open_tool", {})
    assert info.value.code == "unauthorized"
