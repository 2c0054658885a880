"""Property-based fuzzing of every route from the OpenAPI schema (schemathesis, in process
against the ASGI app, a scripted echo model): no input makes the server answer 5xx.

schemathesis runs the app's lifespan on its own event loop thread; the examples per route are
bounded so the whole file takes well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from agenthost.backends.sessions.memory import MemorySessionStore
from agenthost.core.messages import Message
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.ports.models import ToolSpec
from agenthost.server import create_app
from agenthost.testing.scripted import FunctionModel

from .conftest import lookup


def _echo(messages: list[Message], tools: list[ToolSpec]) -> str:
    return f"Echo: {messages[-1].text[:50]}"


def _app() -> Any:
    store = MemorySessionStore()
    runners = {
        name: Runner(
            LLMAgent(model=FunctionModel(_echo, name="test:echo"), name=name, tools=[lookup]),
            store=store,
            app=f"fuzz/{name}",
        )
        for name in ("helper", "other")
    }
    return create_app(runners, api_keys=[], ping_interval=1.0)


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _stop_the_lifespan() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()


_known: dict[str, Any] = {"calls": 0}


def _existing_session_and_run() -> tuple[str, str]:
    """A session `fuzz` of agent `helper` with one finished run (made again if deleted)."""
    with asgi.get_client(APP) as client:
        client.post("/v1/apps/helper/sessions", json={"session_id": "fuzz"})
        run_id = _known.get("run_id")
        if run_id is None or client.get(f"/v1/apps/helper/sessions/fuzz/runs/{run_id}").ok is False:
            made = client.post(
                "/v1/apps/helper/sessions/fuzz/runs", json={"message": "hi", "stream": False}
            )
            _known["run_id"] = made.json()["run_id"]
    return "fuzz", _known["run_id"]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_route_answers_5xx(case: schemathesis.Case) -> None:
    # every other example addresses a session and run that exist, so the fuzzer gets past 404
    _known["calls"] += 1
    params = case.path_parameters
    if params and "session_id" in params and _known["calls"] % 2:
        session_id, run_id = _existing_session_and_run()
        params["agent"] = "helper"
        params["session_id"] = session_id
        if "run_id" in params:
            params["run_id"] = run_id
    case.call_and_validate(checks=[not_a_server_error], timeout=10)
