from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agenthost.backends.sessions import open_session_store
from agenthost.core.usage import Usage
from agenthost.engine import otel, tracing
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.testing.scripted import ScriptedModel, tool_call


async def ping() -> str:
    return "pong"


async def broken() -> str:
    raise RuntimeError("the tool broke")


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    tracing.reset()
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("agenthost"))
    monkeypatch.setattr(tracing, "_enabled", True)
    yield exporter
    tracing.reset()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    spans: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        spans.setdefault(span.name, []).append(span)
    return spans


async def test_one_span_per_run_model_call_and_tool_call(exporter: InMemorySpanExporter) -> None:
    usage = Usage(input_tokens=120, output_tokens=7, requests=1, cost=0.25)
    model = ScriptedModel([tool_call("ping"), "done"], usage=usage)
    async with open_session_store("memory://") as store:
        runner = Runner(LLMAgent(model=model, tools=[ping]), store=store)
        await collect(runner.run("u", "s", "hi"))
    spans = _by_name(exporter)
    assert sorted((name, len(found)) for name, found in spans.items()) == [
        ("chat scripted", 2),
        ("execute_tool ping", 1),
        ("invoke_agent assistant", 1),
    ]
    (run,) = spans["invoke_agent assistant"]
    for child in [*spans["chat scripted"], *spans["execute_tool ping"]]:
        assert child.parent is not None and child.parent.span_id == run.context.span_id
        assert child.context.trace_id == run.context.trace_id
    chat = spans["chat scripted"][0]
    assert chat.kind is trace.SpanKind.CLIENT
    assert dict(chat.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "test",
        "gen_ai.request.model": "scripted",
        "gen_ai.response.model": "test:scripted",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 7,
        "agenthost.usage.cost_usd": 0.25,
        "gen_ai.response.finish_reasons": ("tool_calls",),
    }
    tool = spans["execute_tool ping"][0]
    assert tool.attributes is not None and tool.attributes["gen_ai.tool.name"] == "ping"
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    attributes = run.attributes or {}
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.agent.name"] == "assistant"
    assert attributes["gen_ai.conversation.id"] == "s"
    assert attributes["gen_ai.usage.input_tokens"] == 240  # the two calls together
    assert attributes["gen_ai.usage.output_tokens"] == 14
    assert attributes["agenthost.usage.cost_usd"] == 0.5
    assert attributes["agenthost.run.status"] == "completed"
    assert run.status.status_code is trace.StatusCode.UNSET


async def test_a_failed_tool_and_a_failed_run_mark_their_spans(
    exporter: InMemorySpanExporter,
) -> None:
    model = ScriptedModel([tool_call("broken")])  # no reply after the tool: the run fails
    async with open_session_store("memory://") as store:
        runner = Runner(LLMAgent(model=model, tools=[broken]), store=store)
        events = await collect(runner.run("u", "s", "hi"))
    assert events[-1].type == "run.failed"
    spans = _by_name(exporter)
    (tool,) = spans["execute_tool broken"]
    assert tool.status.status_code is trace.StatusCode.ERROR
    assert tool.attributes is not None and tool.attributes["error.type"] == "tool_error"
    (run,) = spans["invoke_agent assistant"]
    assert run.status.status_code is trace.StatusCode.ERROR
    assert events[-1].error is not None
    assert run.attributes is not None and run.attributes["error.type"] == events[-1].error.code


async def test_unstreamed_model_calls_carry_usage(exporter: InMemorySpanExporter) -> None:
    usage = Usage(input_tokens=3, output_tokens=4, requests=1)
    model = ScriptedModel(["a reply"], usage=usage)
    async with open_session_store("memory://") as store:
        runner = Runner(LLMAgent(model=model, stream=False), store=store)
        await collect(runner.run("u", "s", "hi"))
    (chat,) = _by_name(exporter)["chat scripted"]
    assert chat.attributes is not None
    assert chat.attributes["gen_ai.usage.output_tokens"] == 4


def test_trace_context_is_injected_and_attached(exporter: InMemorySpanExporter) -> None:
    incoming = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    token = tracing.attach(incoming)
    assert token is not None
    try:
        with tracing.span("work") as current:
            headers: dict[str, str] = {}
            tracing.inject(headers)
    finally:
        tracing.detach(token)
    span_id = format(current.get_span_context().span_id, "016x")
    assert headers["traceparent"] == f"00-0af7651916cd43dd8448eb211c80319c-{span_id}-01"
    assert tracing.attach({}) is None  # no header: nothing to attach


def test_no_provider_means_no_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    tracing.reset()
    assert tracing._get_tracer() is None
    headers: dict[str, str] = {}
    tracing.inject(headers)
    assert headers == {}
    tracing.reset()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
    ],
)
def test_the_environment_chooses_the_exporters(env: dict[str, str], expected: list[str]) -> None:
    assert otel._exporters(env) == expected


def test_nothing_is_configured_when_disabled_or_not_asked() -> None:
    assert otel.configure_from_env({}) is False
    disabled = {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318"}
    assert otel.configure_from_env(disabled) is False


def _probe(code: str) -> subprocess.CompletedProcess[str]:
    """`code` run by a fresh interpreter (what a process sees at start)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )


def test_a_bad_exporter_is_a_warning_not_a_crash() -> None:
    probe = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "from agenthost.engine import otel, tracing\n"
        "print(otel.configure_from_env({'OTEL_TRACES_EXPORTER': 'zipkin'}))\n"
        "print(tracing.enabled())\n"
    )
    done = _probe(probe)
    assert done.stdout.split() == ["False", "False"]
    assert "'zipkin' is not supported: use otlp or console" in done.stderr


def test_grpc_without_its_exporter_names_the_extra() -> None:
    probe = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "sys.modules['opentelemetry.exporter.otlp.proto.grpc.trace_exporter'] = None\n"
        "from agenthost.engine import otel\n"
        "env = {'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://127.0.0.1:4317',\n"
        "       'OTEL_EXPORTER_OTLP_PROTOCOL': 'grpc'}\n"
        "print(otel.configure_from_env(env))\n"
    )
    done = _probe(probe)
    assert done.stdout.split() == ["False"]
    assert "pip install 'agenthost[otel-grpc]'" in done.stderr


def test_import_agenthost_loads_no_opentelemetry() -> None:
    probe = (
        "import sys, agenthost\n"
        "from agenthost import Runner, LLMAgent\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = _probe(probe)
    assert done.stdout.strip() == "[]"
