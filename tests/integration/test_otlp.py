"""Traces end to end: `agenthost serve` configured only by the OTEL_* environment exports its
spans over OTLP/HTTP to a receiver here (decoded with opentelemetry-proto). A run started with
a `traceparent` joins the caller's trace (the native run route that bypasses FastAPI, and the
OpenAI-compatible route); the model server receives the `traceparent` of the model call's
span; token usage and cost are on the spans."""

from __future__ import annotations

import http.server
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from agenthost.testing.fake_openai import FakeOpenAIServer, TextReply, ToolCall, ToolCallsReply

pytestmark = pytest.mark.integration

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
INPUT, OUTPUT = "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    error: bool


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, which) if which else None


class Spans:
    """The spans a receiver got (any thread adds, the test waits)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.changed = threading.Condition()

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        found = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    found.append(
                        Span(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_id=s.parent_span_id.hex(),
                            kind=s.kind,
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            resource=resource,
                            error=s.status.code == s.status.STATUS_CODE_ERROR,
                        )
                    )
        with self.changed:
            self.spans += found
            self.changed.notify_all()

    def wait_for(self, ready: Callable[[list[Span]], bool], timeout: float = 120) -> list[Span]:
        with self.changed:
            assert self.changed.wait_for(lambda: ready(self.spans), timeout), self.spans
            return list(self.spans)


class Receiver(Spans, http.server.ThreadingHTTPServer):
    """An OTLP/HTTP (protobuf) trace receiver on 127.0.0.1."""

    def __init__(self) -> None:
        Spans.__init__(self)
        http.server.ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), _Handler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
            self.send_error(404)
            return
        self.server.add(body)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def model() -> Iterator[Any]:
    with FakeOpenAIServer.start_in_thread() as server:
        yield server


@pytest.fixture
def server(receiver: Receiver, model: Any, tmp_path: Path) -> Iterator[str]:
    config = assistant_config(tmp_path)
    with serve(config, otel_env(receiver.endpoint, "agenthost-under-test", model)) as url:
        yield url


def assistant_config(tmp_path: Path) -> Path:
    """A config with one agent, `assistant`, on the fake model, with a calculator tool."""
    config = tmp_path / "agenthost.yaml"
    config.write_text(
        "store: memory://\n"
        "agents:\n"
        "  assistant:\n"
        "    model: openai:gpt-4o-mini\n"
        "    tools: ['demo:calculator']\n"
    )
    return config


def post_run(url: str, agent: str, message: str, trace_id: str) -> httpx.Response:
    """A native run to its end, in the caller's trace `trace_id` (parent span CALLER_SPAN)."""
    response = httpx.post(
        f"{url}/v1/apps/{agent}/runs",
        json={"message": message, "stream": False},
        headers={"traceparent": f"00-{trace_id}-{CALLER_SPAN}-01"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response


def otel_env(endpoint: str, service: str, model: Any, **more: str) -> dict[str, str]:
    """The environment of a server exporting its spans to `endpoint` as `service`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTHOST_"))}
    env.update(
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=model.base_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_SERVICE_NAME=service,
        OTEL_BSP_SCHEDULE_DELAY="50",  # ms: spans leave soon after they end
        **more,
    )
    return env


@contextmanager
def serve(config: Path, env: dict[str, str]) -> Iterator[str]:
    """`agenthost serve --config config` on a free port; yields its URL, stops it after."""
    env = {**env, "AGENTHOST_HOME": str(config.parent / f"home-{config.stem}")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agenthost.cli", "serve", "--config", str(config), "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.search(r" on (http://\S+?): ", line)
            if match:
                break
        else:
            pytest.fail(f"the server exited with {proc.wait()}")
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def _script(model: Any) -> None:
    model.server.add(  # a deque: safe to fill from this thread
        ToolCallsReply(calls=(ToolCall("calculator", {"expression": "6 * 7"}),), usage=(100, 20)),
        TextReply("It is 42.", usage=(150, 10)),
    )


def _run_tree(spans: list[Span], trace_id: str) -> dict[str, list[Span]]:
    tree: dict[str, list[Span]] = {}
    for span in spans:
        if span.trace_id == trace_id:
            tree.setdefault(span.name, []).append(span)
    return tree


def _reaches(span: Span, ancestor: str, tree: dict[str, list[Span]]) -> bool:
    """Whether `ancestor` (a span id; "" for none: the trace's root) is an ancestor of
    `span`, through the spans received (FastAPI's HTTP server span, its endpoint span)."""
    by_id = {s.span_id: s for spans in tree.values() for s in spans}
    seen = span
    while seen.parent_id in by_id:
        seen = by_id[seen.parent_id]
    return seen.parent_id == ancestor


def _complete(trace_id: str) -> Callable[[list[Span]], bool]:
    def ready(spans: list[Span]) -> bool:
        tree = _run_tree(spans, trace_id)
        server = [s for v in tree.values() for s in v if s.kind == 2]  # SPAN_KIND_SERVER
        done = "agenthost run assistant" in tree and len(tree.get("chat gpt-4o-mini", [])) == 2
        return done and bool(server)

    return ready


def test_a_native_run_is_traced_into_the_callers_trace(
    server: str, receiver: Receiver, model: Any
) -> None:
    _script(model)
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    response = httpx.post(
        f"{server}/v1/apps/assistant/runs",
        json={"message": "What is 6 * 7?", "stream": False},
        headers={"traceparent": traceparent},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    tree = _run_tree(receiver.wait_for(_complete(CALLER_TRACE)), CALLER_TRACE)

    (run,) = tree["agenthost run assistant"]
    (agent,) = tree["invoke_agent assistant"]
    chats = sorted(
        tree["chat gpt-4o-mini"], key=lambda s: s.attributes["gen_ai.usage.input_tokens"]
    )
    (tool,) = tree["execute_tool calculator"]
    assert _reaches(run, CALLER_SPAN, tree)  # through FastAPI's HTTP server span
    assert agent.parent_id == run.span_id
    assert {s.parent_id for s in [*chats, tool]} == {agent.span_id}
    assert run.resource["service.name"] == "agenthost-under-test"
    assert run.attributes["agenthost.api"] == "native"

    first, second = chats
    assert first.kind == 3  # SPAN_KIND_CLIENT
    assert first.attributes["gen_ai.operation.name"] == "chat"
    assert first.attributes["gen_ai.provider.name"] == "openai"
    assert first.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert (
        first.attributes["gen_ai.usage.input_tokens"],
        first.attributes["gen_ai.usage.output_tokens"],
    ) == (100, 20)
    assert (
        second.attributes["gen_ai.usage.input_tokens"],
        second.attributes["gen_ai.usage.output_tokens"],
    ) == (150, 10)
    # gpt-4o-mini's list price: $0.15 / $0.60 per million tokens
    assert first.attributes["agenthost.usage.cost_usd"] == pytest.approx(
        (100 * 0.15 + 20 * 0.60) / 1e6
    )
    assert tool.attributes["gen_ai.tool.name"] == "calculator"
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    for span in (run, agent):
        assert span.attributes["gen_ai.usage.input_tokens"] == 250
        assert span.attributes["gen_ai.usage.output_tokens"] == 30
        assert span.attributes["agenthost.usage.cost_usd"] == pytest.approx(
            (250 * 0.15 + 30 * 0.60) / 1e6
        )
        assert span.attributes["agenthost.run.status"] == "completed"

    # the model server got the trace context of each call's own span
    sent = [
        r.headers.get("traceparent")
        for r in model.server.requests
        if r.path.endswith("/completions")
    ]
    assert sent[-2:] == [f"00-{CALLER_TRACE}-{chat.span_id}-01" for chat in chats]


def test_an_openai_route_run_joins_the_callers_trace(
    server: str, receiver: Receiver, model: Any
) -> None:
    _script(model)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    response = httpx.post(
        f"{server}/v1/chat/completions",
        json={"model": "assistant", "messages": [{"role": "user", "content": "6 * 7?"}]},
        headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    tree = _run_tree(receiver.wait_for(_complete(trace_id)), trace_id)
    (run,) = tree["agenthost run assistant"]
    assert _reaches(run, "b7ad6b7169203331", tree)
    assert run.attributes["agenthost.api"] == "openai.chat"
    assert len(tree["execute_tool calculator"]) == 1


def test_a_run_without_traceparent_starts_its_own_trace(
    server: str, receiver: Receiver, model: Any
) -> None:
    _script(model)
    response = httpx.post(
        f"{server}/v1/apps/assistant/runs",
        json={"message": "What is 6 * 7?", "stream": False},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    spans = receiver.wait_for(
        lambda s: (
            any(x.kind == 2 for x in s) and any(x.name == "agenthost run assistant" for x in s)
        )
    )
    (run,) = [s for s in spans if s.name == "agenthost run assistant"]
    tree = _run_tree(spans, run.trace_id)
    assert run.trace_id != CALLER_TRACE
    assert _reaches(run, "", tree)  # a root span of this server's own


def test_a_remote_a2a_agent_continues_the_trace(
    receiver: Receiver, model: Any, tmp_path: Path
) -> None:
    """Our server's agent is a remote A2A agent served by a second agenthost server: the
    caller's trace goes through ours into the remote (it receives a `traceparent` with the
    caller's trace id and one of our spans as the parent), and both export to one trace."""
    model.server.add(TextReply("Hello from the remote.", usage=(30, 5)))
    remote_config = tmp_path / "remote.yaml"
    remote_config.write_text("store: memory://\nagents:\n  helper: {model: openai:gpt-4o-mini}\n")
    trace_id = "5bf92f3577b34da6a3ce929d0e0e4737"
    with serve(remote_config, otel_env(receiver.endpoint, "agenthost-remote", model)) as remote:
        ours_config = tmp_path / "ours.yaml"
        ours_config.write_text(
            "store: memory://\n"
            "agents:\n"
            f"  frontdesk: {{kind: a2a, card_url: '{remote}/a2a/helper/'}}\n"
        )
        with serve(ours_config, otel_env(receiver.endpoint, "agenthost-ours", model)) as ours:
            response = post_run(ours, "frontdesk", "Hello?", trace_id)
            assert "Hello from the remote." in response.text

            def ready(spans: list[Span]) -> bool:
                names = {(s.resource["service.name"], s.name) for s in spans}
                # our HTTP server span too: it ends after the stream, so it may be exported
                # after the run's span, and the run reaches the caller's span through it
                ours_server = any(
                    s.kind == 2 and s.resource["service.name"] == "agenthost-ours" for s in spans
                )
                # every remote span's parent received too (the remote's HTTP server span also
                # ends after its stream): else its run would look like a second entry point
                received = {s.span_id for s in spans}
                remote_whole = all(
                    s.parent_id in received
                    for s in spans
                    if s.resource["service.name"] == "agenthost-remote" and s.trace_id == trace_id
                )
                return (
                    ours_server
                    and remote_whole
                    and {
                        ("agenthost-ours", "agenthost run frontdesk"),
                        ("agenthost-remote", "agenthost run helper"),
                        ("agenthost-remote", "chat gpt-4o-mini"),
                    }
                    <= names
                )

            spans = receiver.wait_for(ready)
    tree = _run_tree(spans, trace_id)
    every = [s for v in tree.values() for s in v]
    mine = {s.span_id: s for s in every if s.resource["service.name"] == "agenthost-ours"}
    theirs = [s for s in every if s.resource["service.name"] == "agenthost-remote"]
    (ours_run,) = tree["agenthost run frontdesk"]
    (remote_run,) = tree["agenthost run helper"]
    assert _reaches(ours_run, CALLER_SPAN, tree)
    # the remote's spans hang under one of ours: the traceparent it received (with the card's
    # request and the message's, both sent from our agent's run)
    entry = {s.parent_id for s in theirs if s.parent_id not in {t.span_id for t in theirs}}
    assert len(entry) == 1 and entry <= set(mine), (entry, list(mine))
    assert _reaches(remote_run, CALLER_SPAN, tree)  # through our spans to the caller
    (agent,) = [s for s in mine.values() if s.name.startswith("invoke_agent ")]
    for parent in entry:
        chain, seen = [], mine[parent]
        while seen.span_id != agent.span_id and seen.parent_id in mine:
            chain.append(seen.name)
            seen = mine[seen.parent_id]
        assert seen.span_id == agent.span_id, chain  # sent from inside our agent's run
    # the remote model call is in the same trace, under the remote run
    (chat,) = tree["chat gpt-4o-mini"]
    assert chat.resource["service.name"] == "agenthost-remote"
