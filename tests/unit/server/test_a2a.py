"""The A2A server (a2a-sdk 1.x) against a real uvicorn server on 127.0.0.1, driven by the
a2a-sdk CLIENT (A2A 1.0, and 0.3 through the SDK's compat transport) and by raw JSON-RPC.

The agents answer through a FunctionModel: "slow ..." waits (until cancelled, at most 30 s),
"wait ..." answers once the test sets `GATES[text]`, "fail ..." fails the model call,
"tool ..." calls the `lookup` tool and answers "Done: <result>", anything else is echoed with
the number of user messages the session has seen.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from a2a.client import A2ACardResolver, A2AClientError, Client, ClientConfig, ClientFactory
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskState,
    UnsupportedOperationError,
)

from agenthost.backends.sessions.memory import MemorySessionStore
from agenthost.config import parse_config
from agenthost.core.errors import ModelHTTPError
from agenthost.core.ids import new_id
from agenthost.core.messages import Message as OurMessage
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.ports.models import ToolSpec
from agenthost.server import create_app
from agenthost.testing.fake_openai import FakeOpenAIServer
from agenthost.testing.scripted import FunctionModel, tool_call

from .conftest import ADMIN, ALICE, BOB, KEYS, client_for
from .live import live_server

COMPLETED = TaskState.TASK_STATE_COMPLETED


GATES: defaultdict[str, threading.Event] = defaultdict(threading.Event)


def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"


async def reply(messages: list[OurMessage], tools: list[ToolSpec]) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return f"Done: {last.parts[0].content}"  # type: ignore[union-attr]
    text = last.text
    if text.startswith("tool"):
        return tool_call("lookup", '{"query": "x"}')
    if text.startswith("slow"):  # until cancelled
        async with asyncio.timeout(30):
            await asyncio.Event().wait()
    if text.startswith("wait"):  # until the test opens the gate of this text
        await asyncio.to_thread(GATES[text].wait, 30)
    if text.startswith("fail"):
        return ModelHTTPError(model="test", status_code=400, body="scripted failure")
    seen = sum(1 for m in messages if m.role == "user")
    return f"Echo: {text} (#{seen})"


def make_runners() -> dict[str, Runner]:
    store = MemorySessionStore()
    return {
        name: Runner(
            LLMAgent(
                model=FunctionModel(reply, name="test:echo"),
                name=name,
                description=f"The {name} agent.",
                tools=[lookup],
            ),
            store=store,
            app=f"a2a/{name}",
        )
        for name in ("helper", "other")
    }


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with live_server(create_app(make_runners(), api_keys=KEYS)) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


async def a2a_client(
    base_url: str, key: str | None, *, agent: str = "helper", streaming: bool = True, **headers: str
) -> Client:
    """An a2a-sdk client of one of our agents, from its card."""
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    http = httpx.AsyncClient(headers={**auth, **headers}, timeout=20)
    factory = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming))
    client = await factory.create_from_url(f"{base_url}/a2a/{agent}")
    client._http = http  # type: ignore[attr-defined]  # closed by `close()` below
    return client


async def close(client: Client) -> None:
    await client.close()
    await client._http.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def alice(base_url: str) -> AsyncIterator[Client]:
    client = await a2a_client(base_url, ALICE)
    yield client
    await close(client)


@pytest.fixture
async def bob(base_url: str) -> AsyncIterator[Client]:
    client = await a2a_client(base_url, BOB)
    yield client
    await close(client)


def user_message(text: str, *, context_id: str = "", task_id: str = "") -> SendMessageRequest:
    message = Message(
        message_id=new_id(),
        role=Role.ROLE_USER,
        parts=[Part(text=text)],
        context_id=context_id,
        task_id=task_id,
    )
    return SendMessageRequest(message=message)


async def events_of(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    return [event async for event in client.send_message(request)]


def final_task(events: list[StreamResponse]) -> Task:
    tasks = [e.task for e in events if e.HasField("task")]
    assert tasks, events
    return tasks[-1]


def artifact_text(task: Task) -> str:
    return "".join(p.text for a in task.artifacts for p in a.parts)


async def run_status(http: httpx.AsyncClient, base_url: str, key: str, task: Task) -> Any:
    """The run's status from the native API (what the store says)."""
    url = f"{base_url}/v1/apps/helper/sessions/{task.context_id}/runs/{task.id}"
    response = await http.get(url, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


# ---- cards -----------------------------------------------------------------------------------


async def test_agent_cards(base_url: str, http: httpx.AsyncClient) -> None:
    root = await A2ACardResolver(http, base_url).get_agent_card()
    assert root.name == "helper"  # no config: the first agent is the default
    assert root.capabilities.streaming
    [v10, v03] = root.supported_interfaces
    assert (v10.url, v10.protocol_binding, v10.protocol_version) == (
        f"{base_url}/a2a/helper/",
        "JSONRPC",
        "1.0",
    )
    assert (v03.url, v03.protocol_version) == (f"{base_url}/a2a/helper/", "0.3")
    assert set(root.security_schemes) == {"bearer", "apiKey"}  # keys are configured
    assert root.security_schemes["bearer"].http_auth_security_scheme.scheme == "Bearer"
    assert [list(r.schemes) for r in root.security_requirements] == [["bearer"], ["apiKey"]]
    assert "One of 2 agents" in root.description

    other = await A2ACardResolver(http, f"{base_url}/a2a/other").get_agent_card()
    assert other.name == "other" and other.skills[0].id == "other"
    assert other.supported_interfaces[0].url == f"{base_url}/a2a/other/"

    raw = (await http.get(f"{base_url}/.well-known/agent-card.json")).json()
    assert raw["url"] == f"{base_url}/a2a/helper/"  # the A2A 0.3 fields are there too
    assert raw["protocolVersion"] == "0.3" and raw["preferredTransport"] == "JSONRPC"
    legacy = (await http.get(f"{base_url}/.well-known/agent.json")).json()
    assert legacy["name"] == "helper"

    assert (await http.get(f"{base_url}/a2a")).status_code == 401  # the index needs a key
    auth = {"Authorization": f"Bearer {ALICE}"}
    index = (await http.get(f"{base_url}/a2a", headers=auth)).json()
    assert index["default"] == "helper"
    assert [a["name"] for a in index["agents"]] == ["helper", "other"]
    assert index["agents"][1]["card_url"] == (f"{base_url}/a2a/other/.well-known/agent-card.json")
    missing = await http.get(f"{base_url}/a2a/nope/.well-known/agent-card.json")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "agent_not_found"


def test_the_sdk_is_imported_on_first_use() -> None:
    from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH

    from agenthost.server.a2a import _routes

    assert _routes.CARD_PATH == AGENT_CARD_WELL_KNOWN_PATH
    code = (
        "import sys; from agenthost.server import create_app; create_app(api_keys=[]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'a2a'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


async def test_card_without_keys_declares_no_auth() -> None:
    app = create_app(make_runners(), api_keys=[])
    async with app.router.lifespan_context(app), client_for(app) as client:
        card = (await client.get("/a2a/other/.well-known/agent-card.json")).json()
    assert "securitySchemes" not in card and "security" not in card
    assert card["url"] == "http://testserver/a2a/other/"


# ---- sending -------------------------------------------------------------------------------


async def test_send_blocking(base_url: str) -> None:
    client = await a2a_client(base_url, ALICE, streaming=False)
    try:
        [event] = await events_of(client, user_message("hello"))
    finally:
        await close(client)
    task = event.task
    assert task.status.state == COMPLETED
    assert task.id.startswith("run_") and task.context_id
    assert artifact_text(task) == "Echo: hello (#1)"
    assert [m.role for m in task.history] == [Role.ROLE_USER, Role.ROLE_AGENT]
    assert task.metadata["agenthost"]["usage"]["requests"] == 1


async def test_stream_with_deltas_and_context(alice: Client) -> None:
    events = await events_of(alice, user_message("hello there"))
    first = events[0]
    assert first.HasField("task") and first.task.status.state == TaskState.TASK_STATE_SUBMITTED
    assert first.task.history[0].parts[0].text == "hello there"
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[1] == "status_update"
    assert events[1].status_update.status.state == TaskState.TASK_STATE_WORKING
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert len(chunks) > 2  # the model streamed in 4-character pieces
    assert not chunks[0].append and all(c.append for c in chunks[1:])
    assert chunks[-1].last_chunk and not any(c.last_chunk for c in chunks[:-1])
    assert {c.artifact.artifact_id for c in chunks} == {"response-1"}
    text = "".join(p.text for c in chunks for p in c.artifact.parts)
    assert text == "Echo: hello there (#1)"
    last = events[-1].status_update
    assert last.status.state == COMPLETED and last.task_id == first.task.id

    # the same context is the same session: the agent has seen both messages
    again = await events_of(alice, user_message("and again", context_id=first.task.context_id))
    chunks = [e.artifact_update for e in again if e.HasField("artifact_update")]
    assert "".join(p.text for c in chunks for p in c.artifact.parts) == "Echo: and again (#2)"


async def test_get_task(alice: Client) -> None:
    events = await events_of(alice, user_message("remember me"))
    task_id = events[0].task.id
    task = await alice.get_task(GetTaskRequest(id=task_id))
    assert task.status.state == COMPLETED
    assert artifact_text(task) == "Echo: remember me (#1)"
    assert len(task.history) == 2
    short = await alice.get_task(GetTaskRequest(id=task_id, history_length=1))
    assert [m.role for m in short.history] == [Role.ROLE_AGENT]


async def test_tool_calls_are_working_status_updates(alice: Client) -> None:
    events = await events_of(alice, user_message("tool time"))
    tools = [
        e.status_update.status.message
        for e in events
        if e.HasField("status_update") and e.status_update.status.message.parts
    ]
    assert [m.metadata["agenthost"]["event"] for m in tools] == [
        "tool.call.started",
        "tool.call.completed",
    ]
    started, done = (m.parts[0].data.struct_value for m in tools)
    assert started["tool_name"] == "lookup" and started["parameters"] == '{"query": "x"}'
    assert done["result"] == "found x"
    task = await alice.get_task(GetTaskRequest(id=events[0].task.id))
    assert artifact_text(task) == "Done: found x"  # the tool-call step has no text: one answer
    assert [a.artifact_id for a in task.artifacts] == ["response-1"]


async def test_a_failed_run_is_a_failed_task(alice: Client) -> None:
    events = await events_of(alice, user_message("fail now"))
    status = events[-1].status_update.status
    assert status.state == TaskState.TASK_STATE_FAILED
    assert "scripted failure" in status.message.parts[0].text
    assert status.message.metadata["code"] == "model_http_error"
    assert status.message.metadata["retryable"] is False


async def test_return_immediately_then_poll(alice: Client, base_url: str) -> None:
    request = user_message("wait a bit")
    request.configuration.CopyFrom(SendMessageConfiguration(return_immediately=True))
    blocking = await a2a_client(base_url, ALICE, streaming=False)
    try:
        [event] = await events_of(blocking, request)
    finally:
        await close(blocking)
    task = event.task
    assert task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
    GATES["wait a bit"].set()
    async with asyncio.timeout(120):  # a guard: the gate is open, the run ends
        while task.status.state != COMPLETED:
            task = await alice.get_task(GetTaskRequest(id=task.id))
            await asyncio.sleep(0.05)
    assert artifact_text(task) == "Echo: wait a bit (#1)"


# ---- cancel, resubscribe ---------------------------------------------------------------------


async def test_cancel_a_slow_run(alice: Client, base_url: str, http: httpx.AsyncClient) -> None:
    stream = alice.send_message(user_message("slow please"))
    first = await anext(stream)
    task_id = first.task.id
    cancelled = await alice.cancel_task(CancelTaskRequest(id=task_id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    rest = [e async for e in stream]
    assert rest[-1].status_update.status.state == TaskState.TASK_STATE_CANCELED
    status = await run_status(http, base_url, ALICE, cancelled)
    assert status["status"] == "cancelled"  # the run really ended, in our store
    with pytest.raises(TaskNotCancelableError, match="already ended"):
        await alice.cancel_task(CancelTaskRequest(id=task_id))


async def test_resubscribe(alice: Client) -> None:
    stream = alice.send_message(user_message("wait for it"))
    first = await anext(stream)
    subscription = alice.subscribe(SubscribeToTaskRequest(id=first.task.id))
    head = await anext(subscription)  # subscribed while the run waits at its gate
    GATES["wait for it"].set()
    resumed = [head] + [e async for e in subscription]
    assert resumed[0].task.id == first.task.id
    assert resumed[-1].status_update.status.state == COMPLETED
    chunks = [e.artifact_update for e in resumed if e.HasField("artifact_update")]
    assert "".join(p.text for c in chunks for p in c.artifact.parts) == "Echo: wait for it (#1)"
    assert [e async for e in stream][-1].status_update.status.state == COMPLETED
    with pytest.raises(UnsupportedOperationError, match="has ended"):
        await anext(alice.subscribe(SubscribeToTaskRequest(id=first.task.id)))


async def test_disconnect_policy_cancel(http: httpx.AsyncClient) -> None:
    app = create_app(make_runners(), api_keys=KEYS, on_disconnect="cancel")
    with live_server(app) as url:
        message = {
            "kind": "message",
            "role": "user",
            "messageId": "m-1",
            "parts": [{"kind": "text", "text": "slow, then I leave"}],
        }
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "message/stream",
            "params": {"message": message},
        }
        headers = {"Authorization": f"Bearer {ALICE}"}
        async with http.stream("POST", f"{url}/a2a/helper/", json=body, headers=headers) as sse:
            async for line in sse.aiter_lines():
                if line.startswith("data: "):
                    task = orjson.loads(line.removeprefix("data: "))["result"]
                    break
        # the client went away: the run is cancelled (by default it would go on)
        async with asyncio.timeout(120):  # a guard: the cancel ends the run
            while True:
                status = await run_status(
                    http, url, ALICE, Task(id=task["id"], context_id=task["contextId"])
                )
                if status["status"] != "running":
                    break
                await asyncio.sleep(0.02)
        assert status["status"] == "cancelled"


async def test_tasks_survive_a_restart(tmp_path: Path, http: httpx.AsyncClient) -> None:
    with FakeOpenAIServer.start_in_thread() as fake:
        config = parse_config(
            {
                "app": "restart",
                "store": f"sqlite:///{tmp_path}/a2a.db",
                "providers": {"fake": {"base_url": fake.base_url}},
                "agents": {"plain": {"model": "fake:fake-model"}},
            },
            env={},
        )
        message = {
            "kind": "message",
            "role": "user",
            "messageId": "m-1",
            "parts": [{"kind": "text", "text": "keep this"}],
        }
        send = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
        with live_server(create_app(config, api_keys=KEYS)) as url:
            answer = await http.post(
                f"{url}/a2a/plain/", json=send, headers={"Authorization": f"Bearer {ALICE}"}
            )
            task_id = answer.json()["result"]["id"]
        with live_server(create_app(config, api_keys=KEYS)) as url:  # a new process, in effect
            get = {"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": task_id}}
            for key, found in ((ALICE, True), (BOB, False)):
                response = await http.post(
                    f"{url}/a2a/plain/", json=get, headers={"Authorization": f"Bearer {key}"}
                )
                body = response.json()
                if found:
                    assert body["result"]["status"]["state"] == "completed"
                    assert body["result"]["artifacts"][0]["parts"][0]["text"] == "Echo: keep this"
                else:
                    assert body["error"]["code"] == -32001


# ---- errors, isolation ---------------------------------------------------------------------


async def test_unknown_task_is_a_json_rpc_error(
    alice: Client, base_url: str, http: httpx.AsyncClient
) -> None:
    with pytest.raises(TaskNotFoundError):
        await alice.get_task(GetTaskRequest(id="run_nope"))
    body = {"jsonrpc": "2.0", "id": 7, "method": "tasks/get", "params": {"id": "run_nope"}}
    response = await http.post(
        f"{base_url}/a2a/helper/", json=body, headers={"Authorization": f"Bearer {ALICE}"}
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["id"] == 7 and answer["error"]["code"] == -32001
    assert "was not found" in answer["error"]["message"]
    unknown = {**body, "method": "tasks/nope"}
    response = await http.post(
        f"{base_url}/a2a/helper/", json=unknown, headers={"Authorization": f"Bearer {ALICE}"}
    )
    assert response.json()["error"]["code"] == -32601


async def test_a_task_takes_one_message(alice: Client) -> None:
    events = await events_of(alice, user_message("one"))
    task = events[0].task
    with pytest.raises(UnsupportedOperationError, match="without taskId"):
        await events_of(alice, user_message("two", context_id=task.context_id, task_id=task.id))


async def test_isolation_between_users(
    alice: Client, bob: Client, base_url: str, http: httpx.AsyncClient
) -> None:
    stream = alice.send_message(user_message("slow secret"))
    task = (await anext(stream)).task
    with pytest.raises(TaskNotFoundError):
        await bob.get_task(GetTaskRequest(id=task.id))
    with pytest.raises(TaskNotFoundError):
        await bob.cancel_task(CancelTaskRequest(id=task.id))
    with pytest.raises(TaskNotFoundError):
        await anext(bob.subscribe(SubscribeToTaskRequest(id=task.id)))
    # bob's message in alice's context is bob's own session: his agent has seen one message
    mine = await events_of(bob, user_message("hi", context_id=task.context_id))
    chunks = [e.artifact_update.artifact for e in mine if e.HasField("artifact_update")]
    assert "".join(p.text for a in chunks for p in a.parts) == "Echo: hi (#1)"
    # the same task id through another agent's endpoint is not found either
    other = await a2a_client(base_url, ALICE, agent="other")
    try:
        with pytest.raises(TaskNotFoundError):
            await other.get_task(GetTaskRequest(id=task.id))
    finally:
        await close(other)
    # an admin acting as alice reaches it
    admin = await a2a_client(base_url, ADMIN, **{"X-Agenthost-User": "alice"})
    try:
        assert (await admin.get_task(GetTaskRequest(id=task.id))).id == task.id
    finally:
        await close(admin)
    await alice.cancel_task(CancelTaskRequest(id=task.id))
    assert [e async for e in stream][-1].status_update.status.state == TaskState.TASK_STATE_CANCELED
    # no key, or a wrong one: HTTP 401 before any JSON-RPC
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}):
        body = {"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": task.id}}
        response = await http.post(f"{base_url}/a2a/helper/", json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    with pytest.raises(A2AClientError, match="401"):
        anonymous = await a2a_client(base_url, None)
        try:
            await anonymous.get_task(GetTaskRequest(id=task.id))
        finally:
            await close(anonymous)


# ---- A2A 0.3 -------------------------------------------------------------------------------


def v03_only(card: AgentCard) -> AgentCard:
    legacy = AgentCard()
    legacy.CopyFrom(card)
    del legacy.supported_interfaces[:]
    legacy.supported_interfaces.extend(
        i for i in card.supported_interfaces if i.protocol_version == "0.3"
    )
    return legacy


async def test_the_sdk_client_in_a2a_0_3_mode(base_url: str, http: httpx.AsyncClient) -> None:
    card = await A2ACardResolver(http, f"{base_url}/a2a/helper").get_agent_card()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ALICE}"}) as own:
        client = ClientFactory(ClientConfig(httpx_client=own)).create(v03_only(card))
        events = await events_of(client, user_message("old times"))
        assert "Compat" in type(client._transport).__name__  # type: ignore[attr-defined]
        chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
        assert "".join(p.text for c in chunks for p in c.artifact.parts) == "Echo: old times (#1)"
        task = await client.get_task(GetTaskRequest(id=events[0].task.id))
        assert task.status.state == COMPLETED
        await client.close()


async def test_raw_json_rpc_0_3_methods(base_url: str, http: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {ALICE}"}
    url = f"{base_url}/a2a/helper"  # without the slash too
    message = {
        "kind": "message",
        "role": "user",
        "messageId": "m-1",
        "parts": [{"kind": "text", "text": "plain JSON"}],
    }
    send = {"jsonrpc": "2.0", "id": "a", "method": "message/send", "params": {"message": message}}
    result = (await http.post(url, json=send, headers=headers)).json()["result"]
    assert result["kind"] == "task" and result["status"]["state"] == "completed"
    assert result["artifacts"][0]["parts"][0]["text"] == "Echo: plain JSON (#1)"

    stream = {**send, "id": "b", "method": "message/stream"}
    response = await http.post(url, json=stream, headers=headers)
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [
        orjson.loads(line.removeprefix("data: "))["result"]
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    assert frames[0]["kind"] == "task"
    assert [f["kind"] for f in frames[1:3]] == ["status-update", "artifact-update"]
    assert frames[-1]["kind"] == "status-update" and frames[-1]["final"] is True
    assert frames[-1]["status"]["state"] == "completed"

    get = {"jsonrpc": "2.0", "id": "c", "method": "tasks/get", "params": {"id": result["id"]}}
    assert (await http.post(url, json=get, headers=headers)).json()["result"]["id"] == result["id"]
    cancel = {**get, "id": "d", "method": "tasks/cancel"}
    error = (await http.post(url, json=cancel, headers=headers)).json()["error"]
    assert error["code"] == -32002  # TaskNotCancelable: it has ended
