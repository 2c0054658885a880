"""Operations and embedding: health, readiness, metrics, logs, hooks, routers, shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from fastapi import APIRouter

from agenthost.backends.sessions.memory import MemorySessionStore
from agenthost.core.errors import ConfigError, StoreError
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.engine.runner import Runner
from agenthost.server import create_app, register_router
from agenthost.server.app import _ROUTERS
from agenthost.server.errors import Forbidden
from agenthost.server.logs import JsonFormatter, RunContextFilter, TextFormatter, current_run
from agenthost.server.runs import RunRequest
from agenthost.server.state import ServerState, Who

from .conftest import ADMIN, KEYS, Gate, Users, client_for, make_runner, started


async def test_health_and_readiness(runners: dict[str, Runner]) -> None:
    app = create_app(runners, api_keys=KEYS)
    async with client_for(app) as client:
        r = await client.get("/readyz")  # not started yet
        assert r.status_code == 503 and "not started" in r.json()["problems"][0]
        assert (await client.get("/healthz")).json() == {"status": "ok"}
    async with started(app) as client:
        assert (await client.get("/readyz")).json() == {"status": "ready"}

        async def broken() -> None:
            raise OSError("disk gone")

        store = runners["helper"].store
        store.check = broken  # type: ignore[attr-defined]
        r = await client.get("/readyz")
        assert r.status_code == 503 and "disk gone" in r.json()["problems"][0]


class _CheckedStore(MemorySessionStore):
    """A store with the `check()` of stores that can tell they are unusable (their file was
    deleted or replaced): readiness must call it rather than the cheap probe."""

    def __init__(self) -> None:
        super().__init__()
        self.problem: str | None = None
        self.checks = 0

    async def check(self) -> None:
        self.checks += 1
        if self.problem is not None:
            raise StoreError(self.problem)


async def test_readiness_calls_the_stores_check(gate: Gate) -> None:
    store = _CheckedStore()
    app = create_app({"helper": make_runner(store, "helper", gate)}, api_keys=[])
    async with started(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        assert store.checks == 1
        store.problem = "the database file was replaced"
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert "the database file was replaced" in r.json()["problems"][0]


async def test_metrics_count_runs_tokens_and_latency(users: Users) -> None:
    await users.alice.post("/v1/apps/helper/runs", json={"message": "tool x", "stream": False})
    await users.alice.post("/v1/apps/helper/runs", json={"message": "fail", "stream": False})
    text = (await users.admin.get("/metrics")).text
    assert 'agenthost_runs_total{agent="helper",status="completed"} 1.0' in text
    assert 'agenthost_runs_total{agent="helper",status="failed"} 1.0' in text
    assert 'agenthost_active_runs{agent="helper"} 0.0' in text
    assert 'agenthost_tokens_total{agent="helper",direction="input"} 20.0' in text
    assert 'agenthost_run_duration_seconds_count{agent="helper"} 2.0' in text
    assert (
        'agenthost_model_call_duration_seconds_count{agent="helper",model="test:echo"} 2.0' in text
    )
    assert 'agenthost_events_total{agent="helper",type="tool.call.started"} 1.0' in text


async def test_metrics_can_be_public(runners: dict[str, Runner]) -> None:
    app = create_app(runners, api_keys=KEYS, metrics_public=True)
    async with started(app) as client:
        assert (await client.get("/metrics")).status_code == 200


async def test_hooks_and_extra_routers(runners: dict[str, Runner]) -> None:
    calls: list[str] = []
    ended: list[tuple[str, str | None]] = []

    async def on_startup(state: ServerState) -> None:
        calls.append(f"startup {sorted(state.runners)}")

    def on_shutdown(state: ServerState) -> None:
        calls.append("shutdown")

    def before_run(request: RunRequest) -> None:
        if "forbidden" in request.message.text:
            raise Forbidden("not that", field="message")

    async def after_run(request: RunRequest, terminal: Event | None) -> None:
        ended.append((request.api, terminal.type if terminal else None))

    def custom(state: ServerState) -> APIRouter:
        api = APIRouter()

        @api.get("/custom/whoami")
        async def whoami(who: Who) -> dict[str, Any]:
            return {"user": who.user_id, "agents": state.agent_names()}

        return api

    plain = APIRouter()

    @plain.get("/custom/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    app = create_app(
        runners,
        api_keys=KEYS,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        before_run=[before_run],
        after_run=[after_run],
        extra_routers=[custom, plain],
    )
    async with started(app) as anonymous, client_for(app, ADMIN) as admin:
        assert calls == ["startup ['helper', 'other']"]
        who = await admin.get("/custom/whoami")
        assert who.json() == {"user": "ops", "agents": ["helper", "other"]}
        assert (await anonymous.get("/custom/whoami")).status_code == 401
        assert (await anonymous.get("/custom/ping")).json() == {"pong": "yes"}
        refused = await admin.post("/v1/apps/helper/runs", json={"message": "forbidden x"})
        assert refused.status_code == 403 and refused.json()["error"]["field"] == "message"
        assert (await admin.get("/v1/apps/helper/sessions")).json()["sessions"] == []
        await admin.post("/v1/apps/helper/runs", json={"message": "ok", "stream": False})
        await admin.post(
            "/v1/chat/completions",
            json={"model": "helper", "messages": [{"role": "user", "content": "x"}]},
        )
    assert calls[-1] == "shutdown"
    assert ended == [("native", "run.completed"), ("openai.chat", "run.completed")]


async def test_router_registry(runners: dict[str, Runner]) -> None:
    def extra(state: ServerState) -> APIRouter:
        api = APIRouter()

        @api.get("/extra")
        async def hello() -> dict[str, bool]:
            return {"extra": True}

        return api

    register_router("extra-test", extra)
    try:
        app = create_app(runners, api_keys=[])
        async with started(app) as client:
            assert (await client.get("/extra")).json() == {"extra": True}
        only_ops = create_app(runners, api_keys=[], routers=["ops"])
        async with started(only_ops) as client:
            assert (await client.get("/v1/models")).status_code == 404
            assert (await client.get("/healthz")).status_code == 200
    finally:
        _ROUTERS.pop("extra-test")
    with pytest.raises(ConfigError, match="Unknown router 'grpc'"):
        create_app(runners, routers=["grpc"])


async def test_shutdown_lets_runs_finish_then_interrupts_the_rest(
    runners: dict[str, Runner], gate: Gate
) -> None:
    app = create_app(runners, api_keys=KEYS, shutdown_grace=0.3)
    state: ServerState = app.state.agenthost
    async with client_for(app, ADMIN) as admin:
        async with app.router.lifespan_context(app):
            slow = asyncio.create_task(
                admin.post("/v1/apps/helper/runs", json={"message": "slow", "stream": False})
            )
            await gate.entered.wait()
            channel = state.runs.active()[0]
        # the lifespan has ended: the run was cancelled after the grace period, and stored
        body = (await slow).json()
        assert body["status"] == "interrupted"
        assert body["error"]["code"] == "interrupted"
        assert "shutting down" in body["error"]["message"]
        session = await runners["helper"].get_session("ops", channel.request.session_id)
        assert [e.type for e in session.events] == ["message.received", "run.failed"]
        r = await admin.post("/v1/apps/helper/runs", json={"message": "late"})
        assert r.status_code == 503


async def test_shutdown_waits_for_a_run_within_the_grace(
    runners: dict[str, Runner], gate: Gate
) -> None:
    app = create_app(runners, api_keys=KEYS, shutdown_grace=5)
    async with client_for(app, ADMIN) as admin:
        async with app.router.lifespan_context(app):
            slow = asyncio.create_task(
                admin.post("/v1/apps/helper/runs", json={"message": "slow", "stream": False})
            )
            await gate.entered.wait()
            asyncio.get_running_loop().call_later(0.2, gate.set)
        assert (await slow).json()["status"] == "completed"


async def test_requested_shutdown_interrupts_runs_while_the_lifespan_is_still_up(
    runners: dict[str, Runner], gate: Gate
) -> None:
    """SIGTERM (`agenthost serve`) calls request_shutdown at once: runs past the grace end
    with their terminal event before the HTTP server would cut their streams."""
    app = create_app(runners, api_keys=KEYS, shutdown_grace=0)
    state: ServerState = app.state.agenthost
    async with client_for(app, ADMIN) as admin, app.router.lifespan_context(app):
        slow = asyncio.create_task(
            admin.post("/v1/apps/helper/runs", json={"message": "slow", "stream": False})
        )
        await gate.entered.wait()
        state.runs.request_shutdown(0)
        state.runs.request_shutdown(0)  # a second signal starts nothing more
        body = (await slow).json()  # ended while the lifespan is still open
        assert body["status"] == "interrupted"
        assert "shutting down" in body["error"]["message"]
        r = await admin.post("/v1/apps/helper/runs", json={"message": "late"})
        assert r.status_code == 503


async def test_new_runs_are_refused_while_shutting_down(users: Users) -> None:
    users.state.runs.begin_shutdown()
    r = await users.alice.post("/v1/apps/helper/runs", json={"message": "x"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
    assert (await users.alice.get("/readyz")).status_code == 503


def test_json_logs_carry_the_run_id() -> None:
    record = logging.LogRecord("agenthost.x", logging.INFO, __file__, 1, "hi %s", ("there",), None)
    record.status = "completed"
    token = current_run.set("run_123")
    try:
        RunContextFilter().filter(record)
    finally:
        current_run.reset(token)
    line = orjson.loads(JsonFormatter().format(record))
    assert line["message"] == "hi there" and line["run_id"] == "run_123"
    assert line["trace_id"] is None and line["status"] == "completed"
    assert line["level"] == "INFO" and line["ts"].endswith("Z")


def test_text_logs_name_the_run_only_inside_one() -> None:
    def line(run: str | None) -> str:
        record = logging.LogRecord("agenthost.x", logging.INFO, __file__, 1, "hi", (), None)
        token = current_run.set(run)
        try:
            RunContextFilter().filter(record)
        finally:
            current_run.reset(token)
        return TextFormatter().format(record)

    assert line("run_9").endswith("INFO    agenthost.x run=run_9 hi")
    assert line(None).endswith("INFO    agenthost.x hi") and "None" not in line(None)


async def test_runs_log_with_their_run_id(users: Users, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agenthost")
    for handler in [caplog.handler]:
        handler.addFilter(RunContextFilter())
    await users.alice.post("/v1/apps/helper/runs", json={"message": "fail", "stream": False})
    run_ids = {getattr(r, "run_id", None) for r in caplog.records if "agenthost" in r.name}
    assert any(isinstance(x, str) and x.startswith("run_") for x in run_ids)


async def test_cors_when_configured(runners: dict[str, Runner]) -> None:
    origin = "http://localhost:5173"
    app = create_app(runners, api_keys=KEYS, cors_origins=[origin], max_body_bytes=100)
    async with started(app) as client:
        preflight = await client.options(
            "/v1/apps/helper/runs",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        too_big = await client.post(
            "/v1/apps/helper/runs", json={"message": "x" * 200}, headers={"Origin": origin}
        )
        assert too_big.status_code == 413
        assert too_big.headers["access-control-allow-origin"] == origin
        other = await client.get("/healthz", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    plain = create_app(runners, api_keys=KEYS)
    async with started(plain) as client:
        r = await client.get("/healthz", headers={"Origin": origin})
        assert "access-control-allow-origin" not in r.headers


def test_cost_is_counted() -> None:
    from agenthost.core.usage import Usage
    from agenthost.server.metrics import Metrics

    metrics = Metrics()
    request = RunRequest(agent="a", user_id="u", session_id="s", message=Message.user("x"))

    def event(kind: str, **fields: Any) -> Event:
        return Event(id="e", run_id=request.run_id, author="x", type=kind, **fields)

    metrics.observe(request, event("message.received"))
    metrics.observe(
        request,
        event(
            "run.completed",
            usage=Usage(input_tokens=100, output_tokens=10, cost=0.25),
            data={"status": "completed", "duration_ms": 1500.0},
        ),
    )
    text = metrics.render().decode()
    assert 'agenthost_cost_usd_total{agent="a"} 0.25' in text
    assert 'agenthost_run_duration_seconds_sum{agent="a"} 1.5' in text
    assert 'agenthost_active_runs{agent="a"} 0.0' in text


async def test_logs_carry_the_trace_id_with_opentelemetry(
    users: Users, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from agenthost.engine import tracing

    provider = TracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    tracing.reset()
    try:
        caplog.set_level(logging.INFO, logger="agenthost.server")
        caplog.handler.addFilter(RunContextFilter())
        await users.alice.post("/v1/apps/helper/runs", json={"message": "x", "stream": False})
    finally:
        tracing.reset()
    finished = [r for r in caplog.records if r.getMessage() == "run finished"]
    line = orjson.loads(JsonFormatter().format(finished[0]))
    assert line["run_id"].startswith("run_") and len(line["trace_id"]) == 32
    assert line["status"] == "completed" and line["agent"] == "helper"


@pytest.mark.parametrize(
    "options",
    [
        {"max_body_bytes": 0},
        {"on_disconnect": "stop"},
        {"shutdown_grace": -1},
        {"replay_buffer": 0},
        {"api_keys": ["nokey"]},
    ],
)
def test_bad_settings_are_config_errors(
    runners: dict[str, Runner], options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError):
        create_app(runners, **options)
