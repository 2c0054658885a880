from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agenthost.backends.sessions import open_session_store
from agenthost.engine import tracing
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.testing.scripted import ScriptedModel, tool_call


async def ping() -> str:
    return "pong"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    monkeypatch.setattr(tracing, "_get_tracer", lambda: provider.get_tracer("agenthost"))
    tracing.reset()
    yield exporter
    tracing.reset()


async def test_one_span_per_run_model_call_and_tool_call(exporter: InMemorySpanExporter) -> None:
    model = ScriptedModel([tool_call("ping"), "done"])
    async with open_session_store("memory://") as store:
        runner = Runner(LLMAgent(model=model, tools=[ping]), store=store)
        await collect(runner.run("u", "s", "hi"))
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == [
        "chat test:scripted",
        "chat test:scripted",
        "execute_tool ping",
        "invoke_agent assistant",
    ]
    run_span = next(s for s in exporter.get_finished_spans() if s.name.startswith("invoke"))
    children = [s for s in exporter.get_finished_spans() if s.parent is not None]
    assert all(s.parent.span_id == run_span.context.span_id for s in children)  # type: ignore[union-attr]


def test_no_provider_means_no_tracer() -> None:
    tracing.reset()
    assert tracing._get_tracer() is None
    tracing.reset()
