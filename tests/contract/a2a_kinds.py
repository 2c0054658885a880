"""The harness for A2AAgent in the agent-kind contract suite: a fake remote agent speaking
A2A 1.0 over JSON-RPC, as the spec and the official a2a-sdk server write it (the frames below
were checked against the SDK server's own output): the agent card at
`/.well-known/agent-card.json`; `SendStreamingMessage` answered by an SSE stream of
`{"jsonrpc": "2.0", "id", "result": StreamResponse}` (a `task`, then `statusUpdate` and
`artifactUpdate` events); `CancelTask` with `{"id": <task id>}`, answered with the canceled
task, or refused with the spec's TaskNotCancelableError (-32002).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agenthost.backends.agents import A2AAgent
from agenthost.ports.protocol import Agent
from tests.unit.backends.agents.fake_platform import (
    FakePlatform,
    Frame,
    Recorded,
    Reply,
    data_frame,
)

from .agent_kinds import Kind

RPC = "/a2a"
CARD = "/.well-known/agent-card.json"
IDS = {"taskId": "t1", "contextId": "c1"}


def _card(url: str) -> dict[str, Any]:
    return {
        "name": "remote",
        "description": "A fake remote A2A agent.",
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
        "version": "1.0.0",
        "capabilities": {"streaming": True},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "hello", "name": "hello", "description": "Says hello.", "tags": []}],
    }


def _event(result: dict[str, Any], rpc_id: Any = None) -> bytes:
    return data_frame({"result": result, "id": rpc_id, "jsonrpc": "2.0"})


def _status(state: str) -> bytes:
    return _event({"statusUpdate": {**IDS, "status": {"state": f"TASK_STATE_{state}"}}})


def _artifact(text: str, index: int) -> bytes:
    update: dict[str, Any] = {**IDS, "artifact": {"artifactId": "a1", "parts": [{"text": text}]}}
    if index:
        update["append"] = True
    return _event({"artifactUpdate": update})


@dataclass
class A2AKind(Kind):
    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        fake.add(CARD, Reply(body=_card(fake.base_url + RPC)))
        return A2AAgent(card_url=fake.base_url, api_key="a2a-key", name="remote", **options)

    def reply(self, pieces: list[str], *, tail: list[Frame] | None = None) -> Reply:
        task = {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_SUBMITTED"}}
        frames: list[Frame] = [_event({"task": task}), _status("WORKING")]
        frames += [_artifact(p, i) for i, p in enumerate(pieces)]
        end: list[Frame] = [_status("COMPLETED")]
        return Reply(frames=frames + (tail if tail is not None else end))

    def error(self, status: int, *, retry_after: str | None = None) -> Reply:
        # an HTTP error before any JSON-RPC: a gateway's or the server's own
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(status=status, body={"error": "upstream says no"}, headers=headers)

    def script_stop(self, fake: FakePlatform, *, refuse: bool = False) -> None:
        if refuse:
            error = {"code": -32002, "message": "Task cannot be canceled"}
            body: dict[str, Any] = {"error": error, "id": 1, "jsonrpc": "2.0"}
        else:
            task = {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_CANCELED"}}
            body = {"result": task, "id": 1, "jsonrpc": "2.0"}
        fake.add(RPC + "#CancelTask", Reply(body=body))

    def stop_requests(self, fake: FakePlatform) -> list[Recorded]:
        stops = fake.calls(RPC + "#CancelTask")
        for stop in stops:  # JSON-RPC CancelTask, params {"id": <the task's id>}
            assert stop.method == "POST"
            assert stop.body["params"] == {"id": "t1"}
            assert stop.headers["Authorization"] == "Bearer a2a-key"
        return stops

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        one, two = first.body["params"]["message"], second.body["params"]["message"]
        assert "contextId" not in one and two["contextId"] == "c1"
        assert [p["text"] for p in two["parts"]] == ["again"]


A2A_KINDS: list[Kind] = [
    A2AKind(
        "a2a",
        RPC + "#SendStreamingMessage",
        not_applicable={
            "tool_round_trip": "a remote A2A agent runs its tools itself; A2A streams no tool "
            "calls",
        },
    )
]
