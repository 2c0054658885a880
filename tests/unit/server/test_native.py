"""The native API: sessions, runs (SSE and JSON), status, cancel, event pages, resuming."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from agenthost.server.runs import RunChannel

from .conftest import Gate, Users, event_types, parse_sse, wait_until


async def _active(users: Users) -> RunChannel:
    """The one active run (waits for it)."""
    await wait_until(users.state.runs.active)
    return users.state.runs.active()[0]


async def test_apps_lists_the_agents(users: Users) -> None:
    r = await users.alice.get("/v1/apps")
    assert r.status_code == 200
    assert [a["name"] for a in r.json()["apps"]] == ["helper", "other"]


async def test_session_lifecycle(users: Users) -> None:
    r = await users.alice.post(
        "/v1/apps/helper/sessions", json={"session_id": "trip", "state": {"city": "Oslo"}}
    )
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "trip" and r.json()["state"] == {"city": "Oslo"}
    again = await users.alice.post("/v1/apps/helper/sessions", json={"session_id": "trip"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "session_exists"
    new = await users.alice.post("/v1/apps/helper/sessions")
    assert new.status_code == 201 and new.json()["id"].startswith("s_")

    listed = (await users.alice.get("/v1/apps/helper/sessions")).json()["sessions"]
    assert {s["id"] for s in listed} == {"trip", new.json()["id"]}
    assert (await users.alice.get("/v1/apps/other/sessions")).json()["sessions"] == []

    got = await users.alice.get("/v1/apps/helper/sessions/trip")
    assert got.status_code == 200 and got.json()["runs"] == []
    assert (await users.alice.delete("/v1/apps/helper/sessions/trip")).status_code == 204
    gone = await users.alice.get("/v1/apps/helper/sessions/trip")
    assert gone.status_code == 404
    assert gone.json()["error"] == {
        "code": "session_not_found",
        "message": gone.json()["error"]["message"],
        "type": "not_found_error",
        "field": "session_id",
        "param": "session_id",
    }


async def test_a_run_streams_sse_frames_with_ids(users: Users) -> None:
    r = await users.alice.post("/v1/apps/helper/runs", json={"message": "hello"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-run-id"].startswith("run_")
    session_id = r.headers["x-session-id"]
    frames = parse_sse(r.text)
    assert all("id" in f for f in frames)
    types = event_types(frames)
    assert types[0] == "message.received" and types[-1] == "run.completed"
    assert "message.delta" in types
    stored = [f for f in frames if "." not in f["id"]]
    assert [int(f["id"]) for f in stored] == [f["data"]["seq"] for f in stored]
    partial = [f for f in frames if "." in f["id"]]
    assert partial and all(f["data"]["partial"] for f in partial)
    text = "".join(f["data"]["message"]["parts"][0]["text"] for f in partial)
    assert text == "Echo: hello (#1 user messages seen)"

    # the session continues
    r2 = await users.alice.post(
        f"/v1/apps/helper/sessions/{session_id}/runs", json={"message": "again", "stream": False}
    )
    body = r2.json()
    assert r2.status_code == 200 and body["status"] == "completed"
    assert body["output"] == "Echo: again (#2 user messages seen)"
    assert body["usage"]["input_tokens"] == 10
    assert [e["type"] for e in body["events"]] == [
        "message.received",
        "message.completed",
        "run.completed",
    ]


async def test_a_tool_run_and_parts_message(users: Users) -> None:
    r = await users.alice.post(
        "/v1/apps/helper/runs",
        json={"message": [{"kind": "text", "text": "tool please"}], "stream": False},
    )
    body = r.json()
    assert body["status"] == "completed" and body["output"] == "Done: found x"
    assert "tool.call.started" in [e["type"] for e in body["events"]]


async def test_events_are_paged(users: Users) -> None:
    r = await users.alice.post("/v1/apps/helper/runs", json={"message": "a", "stream": False})
    sid = r.json()["session_id"]
    await users.alice.post(
        f"/v1/apps/helper/sessions/{sid}/runs", json={"message": "b", "stream": False}
    )
    first = (await users.alice.get(f"/v1/apps/helper/sessions/{sid}/events?limit=4")).json()
    assert [e["seq"] for e in first["events"]] == [1, 2, 3, 4] and first["has_more"]
    rest = await users.alice.get(
        f"/v1/apps/helper/sessions/{sid}/events", params={"after": first["next_after"]}
    )
    assert [e["seq"] for e in rest.json()["events"]] == [5, 6]
    assert rest.json()["has_more"] is False and rest.json()["next_after"] == 6
    bad = await users.alice.get(f"/v1/apps/helper/sessions/{sid}/events?limit=0")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "limit"


async def test_a_failing_run_sends_an_error_frame_then_run_failed(users: Users) -> None:
    r = await users.alice.post("/v1/apps/helper/runs", json={"message": "fail now"})
    assert r.status_code == 200
    frames = parse_sse(r.text)
    assert event_types(frames)[-2:] == ["error", "run.failed"]
    error, failed = frames[-2], frames[-1]
    assert error["data"]["error"]["code"] == "model_http_error"
    assert failed["data"]["error"]["code"] == "model_http_error"
    assert failed["data"]["data"]["status"] == "failed"
    ids = [f["id"] for f in frames]
    assert len(set(ids)) == len(ids)  # every frame has its own id, the error frame too
    assert frames[-3]["id"] < error["id"] < failed["id"]  # in stream order (same digits here)
    base = f"/v1/apps/helper/sessions/{r.headers['x-session-id']}/runs/{r.headers['x-run-id']}"
    # a client that saw the frame before the error gets the error and run.failed again
    again = await users.alice.get(base + "/events", headers={"Last-Event-ID": frames[-3]["id"]})
    assert event_types(parse_sse(again.text)) == ["error", "run.failed"]
    assert [f["id"] for f in parse_sse(again.text)] == [error["id"], failed["id"]]
    # one that saw the error frame gets only run.failed (today's main: the error again too)
    after = await users.alice.get(base + "/events", headers={"Last-Event-ID": error["id"]})
    assert event_types(parse_sse(after.text)) == ["run.failed"]


async def test_status_and_cancel_of_a_running_run(users: Users, gate: Gate) -> None:
    start = asyncio.create_task(users.alice.post("/v1/apps/helper/runs", json={"message": "slow"}))
    channel = await _active(users)
    await gate.entered.wait()
    sid, rid = channel.request.session_id, channel.run_id
    base = f"/v1/apps/helper/sessions/{sid}/runs/{rid}"
    status = await users.alice.get(base)
    assert status.status_code == 200 and status.json()["status"] == "running"

    cancel = await users.alice.post(f"{base}/cancel")
    assert cancel.status_code == 202 and cancel.json()["status"] == "cancelling"
    frames = parse_sse((await start).text)
    assert event_types(frames)[-2:] == ["error", "run.failed"]
    assert frames[-1]["data"]["error"]["code"] == "cancelled"

    done = await users.alice.get(base)
    assert done.json()["status"] == "cancelled"
    again = await users.alice.post(f"{base}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_finished"
    unknown = await users.alice.get(f"/v1/apps/helper/sessions/{sid}/runs/run_nope")
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "run_id"


async def test_a_session_with_a_running_run_cannot_be_deleted(users: Users, gate: Gate) -> None:
    start = asyncio.create_task(users.alice.post("/v1/apps/helper/runs", json={"message": "slow"}))
    channel = await _active(users)
    r = await users.alice.delete(f"/v1/apps/helper/sessions/{channel.request.session_id}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "session_busy"
    gate.set()
    assert (await start).status_code == 200


async def test_resume_with_last_event_id_while_running_and_after(users: Users, gate: Gate) -> None:
    start = asyncio.create_task(users.alice.post("/v1/apps/helper/runs", json={"message": "slow"}))
    channel = await _active(users)
    await gate.entered.wait()
    sid, rid = channel.request.session_id, channel.run_id
    url = f"/v1/apps/helper/sessions/{sid}/runs/{rid}/events"
    resumed = asyncio.create_task(users.alice.get(url, headers={"Last-Event-ID": "1"}))
    await wait_until(lambda: channel.readers == 2)  # the run's own stream, and this one
    gate.set()
    full = parse_sse((await start).text)
    live = parse_sse((await resumed).text)
    assert [f["id"] for f in live] == [f["id"] for f in full[1:]]  # all but message.received

    # once finished: the stored events after the id (the deltas are gone)
    after = parse_sse((await users.alice.get(url, headers={"Last-Event-ID": "1"})).text)
    assert event_types(after) == ["message.completed", "run.completed"]
    everything = parse_sse((await users.alice.get(url)).text)
    assert event_types(everything) == ["message.received", "message.completed", "run.completed"]
    via_query = parse_sse((await users.alice.get(url, params={"after": "2"})).text)
    assert event_types(via_query) == ["run.completed"]
    partial_id = next(f["id"] for f in full if "." in f["id"])
    from_delta = parse_sse((await users.alice.get(url, headers={"Last-Event-ID": partial_id})).text)
    assert event_types(from_delta) == ["message.completed", "run.completed"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("abc", "not an event id"),
        ("1.2.3", "not an event id"),
        ("-1", "not an event id"),
        ("99", "after the last event"),
    ],
)
async def test_an_invalid_last_event_id_is_a_400(users: Users, value: str, why: str) -> None:
    r = await users.alice.post("/v1/apps/helper/runs", json={"message": "x", "stream": False})
    sid, rid = r.json()["session_id"], r.json()["run_id"]
    url = f"/v1/apps/helper/sessions/{sid}/runs/{rid}/events"
    bad = await users.alice.get(url, headers={"Last-Event-ID": value})
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["field"] == "Last-Event-ID"
    assert why in bad.json()["error"]["message"]


async def test_state_app_scope_is_for_admins(users: Users) -> None:
    r = await users.alice.post(
        "/v1/apps/helper/runs",
        json={"message": "x", "stream": False, "state_delta": {"app:motd": "hi"}},
    )
    assert r.status_code == 403 and r.json()["error"]["field"] == "state_delta"
    assert (await users.alice.get("/v1/apps/helper/sessions")).json()["sessions"] == []
    ok = await users.admin.post(
        "/v1/apps/helper/runs",
        json={"message": "x", "stream": False, "state_delta": {"app:motd": "hi", "user:n": 1}},
    )
    assert ok.status_code == 200
    session = await users.admin.get(f"/v1/apps/helper/sessions/{ok.json()['session_id']}")
    assert session.json()["state"] == {"app:motd": "hi", "user:n": 1}


async def test_busy_policy_reject_is_a_409_and_stores_nothing(users: Users, gate: Gate) -> None:
    start = asyncio.create_task(users.alice.post("/v1/apps/helper/runs", json={"message": "slow"}))
    channel = await _active(users)
    sid = channel.request.session_id
    await gate.entered.wait()
    second = await users.alice.post(
        f"/v1/apps/helper/sessions/{sid}/runs", json={"message": "x", "busy_policy": "reject"}
    )
    assert second.status_code == 409 and second.json()["error"]["code"] == "session_busy"
    gate.set()
    await start
    events = (await users.alice.get(f"/v1/apps/helper/sessions/{sid}/events")).json()["events"]
    assert [e["type"] for e in events].count("message.received") == 1


async def test_follow_fills_what_the_buffer_dropped_from_the_store(users: Users) -> None:
    """A reader behind a trimmed buffer gets the missing stored events from the session."""
    from agenthost.server.runs import RunRequest, follow

    runner = users.state.runners["helper"]
    events: list[Any] = []
    async for event in runner.run("alice", "s1", "tool then text"):
        events.append(event)
    run_id = events[0].run_id
    request = RunRequest(
        agent="helper", user_id="alice", session_id="s1", message=events[0].message, run_id=run_id
    )
    channel = RunChannel(request, runner, capacity=2)
    for event in events:
        channel.push(event)
    channel.close()
    assert channel.base > 0  # frames were dropped
    got = [
        f
        async for f in follow(
            channel, runner=runner, user_id="alice", session_id="s1", run_id=run_id
        )
        if f is not None
    ]
    positions = [f.pos for f in got]
    assert positions == sorted(set(positions))
    stored = [e.seq for e in events if not e.partial]
    assert [f.event.seq for f in got if not f.event.partial] == stored
    later = [
        f
        async for f in follow(
            channel, runner=runner, user_id="alice", session_id="s1", run_id=run_id, after=(2, 0)
        )
        if f is not None
    ]
    assert [f.event.seq for f in later if not f.event.partial] == [s for s in stored if s > 2]


async def test_a_channel_wakes_its_readers_or_times_them_out(users: Users) -> None:
    """`RunChannel.wait`: True once a frame is pushed (every reader), False after the timeout,
    and a reader that timed out or was cancelled is not left behind in the channel."""
    from agenthost.server.runs import RunRequest

    runner = users.state.runners["helper"]
    events = [event async for event in runner.run("alice", "s2", "hi")]
    request = RunRequest(
        agent="helper", user_id="alice", session_id="s2", message=events[0].message
    )
    channel = RunChannel(request, runner, capacity=8)
    assert await channel.wait(0, 0.001) is False  # nothing came
    readers = [asyncio.ensure_future(channel.wait(0, None)) for _ in range(2)]
    gone = asyncio.ensure_future(channel.wait(0, 60))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert len(channel._waiters) == 2  # the timed-out and the cancelled reader are gone
    channel.push(events[0])
    assert await asyncio.gather(*readers) == [True, True]
    assert await channel.wait(0, 0.001) is True  # a frame is there: no wait
    channel.close()
    assert await channel.wait(1, None) is True  # the run is done: no wait


async def test_without_keys_everyone_is_the_local_admin(local: httpx.AsyncClient) -> None:
    r = await local.post("/v1/apps/helper/runs", json={"message": "hi", "stream": False})
    assert r.status_code == 200
    assert r.json()["events"][0]["user_id"] == "local"
    as_bob = await local.get("/v1/apps/helper/sessions", headers={"X-Agenthost-User": "bob"})
    assert as_bob.json()["sessions"] == []


async def test_sessions_are_listed_with_their_first_message(users: Users) -> None:
    await users.alice.post("/v1/apps/helper/sessions", json={"session_id": "empty"})
    long = "word " * 40
    first = await users.alice.post("/v1/apps/helper/runs", json={"message": long, "stream": False})
    sid = first.json()["session_id"]
    await users.alice.post(
        f"/v1/apps/helper/sessions/{sid}/runs", json={"message": "second", "stream": False}
    )
    listed = (await users.alice.get("/v1/apps/helper/sessions")).json()["sessions"]
    titles = {s["id"]: s["title"] for s in listed}
    assert titles["empty"] is None  # no message yet
    assert titles[sid].startswith("word word") and titles[sid].endswith("…")
    assert len(titles[sid]) == 80
    # deleted and made again under the same id: the new first message
    await users.alice.delete(f"/v1/apps/helper/sessions/{sid}")
    await users.alice.post("/v1/apps/helper/sessions", json={"session_id": sid})
    await users.alice.post(
        f"/v1/apps/helper/sessions/{sid}/runs", json={"message": "anew", "stream": False}
    )
    listed = (await users.alice.get("/v1/apps/helper/sessions")).json()["sessions"]
    assert {s["id"]: s["title"] for s in listed}[sid] == "anew"


async def test_a_stream_closed_early_closes_where_its_frames_come_from() -> None:
    """`event_frames` closed before its end (the client left) closes its batches' generator:
    its cleanup (a channel's reader count, its ping timer) runs at once."""
    from typing import cast

    from agenthost.core.events import Event
    from agenthost.server.native import event_frames
    from agenthost.server.runs import Frame

    closed = asyncio.Event()
    event = Event(id="e1", run_id="r1", author="user", type="message.received", seq=1)

    async def batches() -> Any:
        try:
            yield [Frame((1, 0), event)]
            yield [Frame((2, 0), event)]
        finally:
            closed.set()

    frames = event_frames(
        cast(Any, None),
        None,
        runner=cast(Any, None),
        user_id="u",
        session_id="s1",
        run_id="r1",
        after=None,
        batches=batches(),
    )
    assert (await anext(frames)).startswith(b"id: 1\nevent: message.received\n")
    assert not closed.is_set()
    await frames.aclose()
    assert closed.is_set()
