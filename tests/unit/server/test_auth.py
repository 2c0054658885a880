"""API keys: the format, hashing, who may do what, and user isolation over every route."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import pytest

from agenthost.core.errors import ConfigError
from agenthost.server.auth import ApiKeys, check_bind, hash_key, resolve_principal

from .conftest import ALICE, Gate, Users, wait_until

# ---- the key format ------------------------------------------------------------------------


def test_entries_parse_to_users_and_admins() -> None:
    keys = ApiKeys.parse(
        [
            "k1-0123456789abcdef:alice",
            "k2-0123456789abcdef:ops@admin",
            f"sha256:{hash_key('k3')}:bob",
        ]
    )
    assert len(keys) == 3
    alice = keys.authenticate("k1-0123456789abcdef")
    assert alice is not None and alice.user_id == "alice" and not alice.admin
    ops = keys.authenticate("k2-0123456789abcdef")
    assert ops is not None and ops.user_id == "ops" and ops.admin
    bob = keys.authenticate("k3")
    assert bob is not None and bob.user_id == "bob"
    assert keys.authenticate("k1") is None
    assert "k1" not in repr(keys) and "alice" not in repr(keys)
    assert alice.key_id == hashlib.sha256(b"k1-0123456789abcdef").hexdigest()[:12]


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("nokey", "needs a key and a user"),
        (":alice", "needs a key and a user"),
        ("k ey:alice", "spaces or commas"),
        ("key:", "the user ''"),
        ("key:al ice", "the user 'al ice'"),
        ("sha256:abc:alice", "64 hex digits"),
    ],
)
def test_bad_entries_are_config_errors_without_the_key(entry: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        ApiKeys.parse([entry], source="server.api_keys")
    assert why in info.value.message and "server.api_keys[0]" in info.value.message


def test_duplicates_and_env_merge() -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        ApiKeys.parse(["abc:alice", "abc:bob"])
    keys = ApiKeys.from_sources(["abc:alice"], {"AGENTHOST_API_KEYS": "def:bob, ghi:ops@admin,"})
    assert len(keys) == 3
    assert not ApiKeys.from_sources([], {})


def test_headers() -> None:
    keys = ApiKeys.parse(["secret-key:alice"])
    assert (
        resolve_principal(
            keys, authorization="Bearer secret-key", api_key=None, act_as=None
        ).user_id
        == "alice"
    )
    assert (
        resolve_principal(keys, authorization=None, api_key="secret-key", act_as=None).user_id
        == "alice"
    )
    local = resolve_principal(ApiKeys(), authorization=None, api_key=None, act_as="bob")
    assert local.user_id == "bob" and local.admin


def test_binding_beyond_loopback_needs_keys() -> None:
    check_bind("127.0.0.1", ApiKeys())
    check_bind("::1", ApiKeys())
    check_bind("localhost", ApiKeys())
    check_bind("0.0.0.0", ApiKeys(), insecure=True)
    check_bind("0.0.0.0", ApiKeys.parse(["k:alice"]))
    with pytest.raises(ConfigError, match="--insecure"):
        check_bind("0.0.0.0", ApiKeys())


# ---- over HTTP -----------------------------------------------------------------------------


async def test_keys_are_required(users: Users) -> None:
    r = await users.anonymous.get("/v1/apps")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.json()["error"]["type"] == "authentication_error"
    assert r.headers["www-authenticate"] == "Bearer"
    r = await users.anonymous.get("/v1/apps", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "not valid" in r.json()["error"]["message"]
    r = await users.anonymous.get("/v1/apps", headers={"Authorization": f"Basic {ALICE}"})
    assert r.status_code == 401 and "Bearer" in r.json()["error"]["message"]
    r = await users.anonymous.get("/v1/models", headers={"X-API-Key": ALICE})
    assert r.status_code == 200
    assert (await users.anonymous.get("/healthz")).status_code == 200
    assert (await users.anonymous.get("/readyz")).status_code == 200


async def test_acting_as_another_user_needs_an_admin_key(users: Users) -> None:
    made = await users.alice.post("/v1/apps/helper/runs", json={"message": "hi", "stream": False})
    sid = made.json()["session_id"]
    r = await users.bob.get("/v1/apps/helper/sessions", headers={"X-Agenthost-User": "alice"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await users.admin.get("/v1/apps/helper/sessions", headers={"X-Agenthost-User": "alice"})
    assert [s["id"] for s in r.json()["sessions"]] == [sid]
    r = await users.admin.get("/v1/apps/helper/sessions")
    assert r.json()["sessions"] == []  # the admin's own sessions (user 'ops')


async def test_metrics_need_an_admin_key(users: Users) -> None:
    assert (await users.alice.get("/metrics")).status_code == 403
    assert (await users.anonymous.get("/metrics")).status_code == 401
    r = await users.admin.get("/metrics")
    assert r.status_code == 200 and "agenthost_runs_total" in r.text


# ---- isolation: bob can reach nothing of alice's, through any route -------------------------


@dataclass
class AliceData:
    session_id: str
    run_id: str
    active_run_id: str
    response_id: str
    event_count: int


@pytest.fixture
async def alice_data(users: Users, gate: Gate) -> Any:
    done = await users.alice.post("/v1/apps/helper/sessions/shared/runs", json={"message": "x"})
    assert done.status_code == 404  # not created yet: create it first
    await users.alice.post("/v1/apps/helper/sessions", json={"session_id": "shared"})
    done = await users.alice.post(
        "/v1/apps/helper/sessions/shared/runs", json={"message": "secret", "stream": False}
    )
    resp = await users.alice.post(
        "/v1/responses", json={"model": "helper", "input": "hi"}, headers={"X-Session-Id": "shared"}
    )
    slow = asyncio.create_task(users.alice.post("/v1/apps/helper/runs", json={"message": "slow"}))
    await wait_until(users.state.runs.active)
    await gate.entered.wait()
    active = users.state.runs.active()[0]
    count = len((await users.alice.get("/v1/apps/helper/sessions/shared/events")).json()["events"])
    yield AliceData("shared", done.json()["run_id"], active.run_id, resp.json()["id"], count)
    gate.set()
    await slow
    assert active.terminal is not None and active.terminal.type == "run.completed"


ROUTES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("get session", "GET", "/v1/apps/helper/sessions/{sid}", None),
    ("delete session", "DELETE", "/v1/apps/helper/sessions/{sid}", None),
    ("session events", "GET", "/v1/apps/helper/sessions/{sid}/events", None),
    ("run in session", "POST", "/v1/apps/helper/sessions/{sid}/runs", {"message": "x"}),
    ("run status", "GET", "/v1/apps/helper/sessions/{sid}/runs/{rid}", None),
    ("run events", "GET", "/v1/apps/helper/sessions/{sid}/runs/{rid}/events", None),
    ("cancel run", "POST", "/v1/apps/helper/sessions/{sid}/runs/{rid}/cancel", None),
    ("active run status", "GET", "/v1/apps/helper/sessions/{asid}/runs/{arid}", None),
    ("active run events", "GET", "/v1/apps/helper/sessions/{asid}/runs/{arid}/events", None),
    ("cancel active run", "POST", "/v1/apps/helper/sessions/{asid}/runs/{arid}/cancel", None),
    ("active run, own session", "POST", "/v1/apps/helper/sessions/mine/runs/{arid}/cancel", None),
    (
        "previous response",
        "POST",
        "/v1/responses",
        {"model": "helper", "input": "x", "previous_response_id": "{resp}"},
    ),
]


@pytest.mark.parametrize(("name", "method", "path", "body"), ROUTES, ids=[r[0] for r in ROUTES])
@pytest.mark.parametrize("who", ["bob", "admin acting as bob"])
async def test_another_user_reaches_nothing_of_alices(
    users: Users,
    alice_data: AliceData,
    name: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    who: str,
) -> None:
    active = users.state.runs.get(alice_data.active_run_id)
    assert active is not None
    values = {
        "sid": alice_data.session_id,
        "rid": alice_data.run_id,
        "asid": active.request.session_id,
        "arid": alice_data.active_run_id,
        "resp": alice_data.response_id,
    }
    client = users.bob if who == "bob" else users.admin
    headers = {} if who == "bob" else {"X-Agenthost-User": "bob"}
    await client.post("/v1/apps/helper/sessions", json={"session_id": "mine"}, headers=headers)
    if body is not None:
        body = {k: v.format(**values) if isinstance(v, str) else v for k, v in body.items()}
    r = await client.request(method, path.format(**values), json=body, headers=headers)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] in ("session_not_found", "run_not_found", "response_not_found")
    # alice's data is untouched, her run still going
    events = (await users.alice.get("/v1/apps/helper/sessions/shared/events")).json()["events"]
    assert len(events) == alice_data.event_count
    assert not active.done


async def test_openai_session_ids_are_per_user(users: Users, alice_data: AliceData) -> None:
    body = {"model": "helper", "messages": [{"role": "user", "content": "who?"}]}
    r = await users.bob.post("/v1/chat/completions", json=body, headers={"X-Session-Id": "shared"})
    assert r.status_code == 200
    assert "(#1 user messages seen)" in r.json()["choices"][0]["message"]["content"]
    r = await users.bob.post("/v1/chat/completions", json=body, headers={"X-Session-Id": "shared"})
    assert "(#2 user messages seen)" in r.json()["choices"][0]["message"]["content"]
    listed = (await users.bob.get("/v1/apps/helper/sessions")).json()["sessions"]
    assert [s["id"] for s in listed] == ["shared"]
    events = (await users.alice.get("/v1/apps/helper/sessions/shared/events")).json()["events"]
    assert len(events) == alice_data.event_count
    mine = await users.admin.get(
        "/v1/apps/helper/sessions/shared/events", headers={"X-Agenthost-User": "alice"}
    )
    assert len(mine.json()["events"]) == alice_data.event_count
