"""OpenTelemetry spans: one per run, model call and tool call, after the GenAI semantic
conventions (docs/observability.md):

    agenthost run {agent}     the server's run (RunManager): api, user, session
      invoke_agent {agent}    the runner driving the agent; usage and cost of the whole run
        chat {model}          one model call (kind CLIENT): provider, request/response model,
                              gen_ai.usage.input_tokens / output_tokens, cost, finish reason
        execute_tool {name}   one tool call

Off unless a tracer provider is configured: by the application before the first run, or from
the standard environment variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_TRACES_EXPORTER`,
`OTEL_SERVICE_NAME`, ...; see `engine.otel`), which this module reads once, at its first span.
OpenTelemetry itself is an extra (`agenthost[otel]`), imported only then, so `import
agenthost` stays light and with tracing off a span costs one boolean test. `reset()` makes the
check again (tests).

Trace context: `inject(headers)` adds the current `traceparent` to outgoing HTTP headers
(models, platforms, A2A agents: see backends.common.propagation); `attach(headers)` makes an
incoming request's `traceparent` the parent of what follows (the server's middleware).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agenthost.core.events import Event
    from agenthost.ports.models import ModelResponse
    from agenthost.ports.tools import ToolOutput

_tracer: Any = None
_enabled: bool | None = None
_NOOP: AbstractContextManager[None] = nullcontext()
COST = "agenthost.usage.cost_usd"  # no GenAI convention for cost yet


def _get_tracer() -> Any:
    global _tracer, _enabled
    if _enabled is False:
        return None
    if _enabled is None:
        try:
            from opentelemetry import trace
        except ImportError:  # the `otel` extra is not installed
            _enabled = False
            return None
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            from agenthost.engine.otel import configure_from_env

            if not configure_from_env():
                _enabled = False
                return None
        _tracer = trace.get_tracer("agenthost")
        _enabled = True
    return _tracer


def enabled() -> bool:
    """True when spans are recorded (a tracer provider is configured)."""
    return _enabled is not False and _get_tracer() is not None


def reset() -> None:
    """Forget the cached tracer (tests that install a provider call this)."""
    global _tracer, _enabled
    _tracer = None
    _enabled = None


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A span of kind INTERNAL, current inside the `with` (None when tracing is off)."""
    return _span(name, attributes, client=False)


@contextmanager
def _span(name: str, attributes: dict[str, Any], *, client: bool) -> Iterator[Any]:
    tracer = _get_tracer()
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
    with tracer.start_as_current_span(name, kind=kind, attributes=attributes) as current:
        yield current


def run_span(run_id: str, agent: str, session_id: str) -> Any:
    if _enabled is False:
        return _NOOP
    return span(
        f"invoke_agent {agent}",
        **{
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "agenthost.run_id": run_id,
            "gen_ai.conversation.id": session_id,
        },
    )


def model_span(model_id: str) -> Any:
    """`chat {model}`: `model_id` is 'provider:model' (the provider part is optional)."""
    if _enabled is False:
        return _NOOP
    provider, _, model = model_id.rpartition(":")
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}
    if provider:
        attributes["gen_ai.provider.name"] = provider
    return _span(f"chat {model}", attributes, client=True)


def tool_span(tool_name: str) -> Any:
    if _enabled is False:
        return _NOOP
    return span(
        f"execute_tool {tool_name}",
        **{
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool_name,
            "gen_ai.tool.type": "function",
        },
    )


def record_response(current: Any, response: ModelResponse) -> None:
    """A model call's outcome on its span: response model, tokens, cost, finish reason."""
    if current is None:
        return
    usage = response.usage
    current.set_attribute("gen_ai.response.model", response.model)
    current.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
    current.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
    current.set_attribute(COST, usage.cost)
    if response.finish_reason:
        current.set_attribute("gen_ai.response.finish_reasons", [response.finish_reason])


def record_tool(current: Any, output: ToolOutput) -> None:
    """A tool's error result marks its span as failed (`error.type` = tool_error)."""
    if current is None or not output.is_error:
        return
    from opentelemetry.trace import Status, StatusCode

    current.set_attribute("error.type", "tool_error")
    current.set_status(Status(StatusCode.ERROR, output.content[:200]))


def record_run(terminal: Event | None) -> None:
    """A run's end on the current span: status, tokens and cost of all its model calls; a
    failed run marks the span failed with its error code as `error.type`."""
    if not _enabled or terminal is None:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    if not current.is_recording():
        return
    data = terminal.data or {}
    current.set_attribute("agenthost.run.status", str(data.get("status", "")))
    usage = terminal.usage
    if usage is not None:
        current.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
        current.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        current.set_attribute(COST, usage.cost)
    if terminal.error is not None:
        current.set_attribute("error.type", terminal.error.code)
        current.set_status(trace.Status(trace.StatusCode.ERROR, terminal.error.message[:200]))


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context (`traceparent`, `tracestate`) to outgoing headers."""
    if not _enabled:
        return
    from opentelemetry.propagate import inject as otel_inject

    otel_inject(headers)


def attach(headers: Mapping[str, str]) -> object | None:
    """Make the trace context in incoming `headers` current; returns the token for
    `detach`, or None when tracing is off or there is none."""
    if not _enabled or "traceparent" not in headers:
        return None
    from opentelemetry import context
    from opentelemetry.propagate import extract

    return context.attach(extract(headers))


def detach(token: object) -> None:
    from opentelemetry import context

    context.detach(token)  # type: ignore[arg-type]


def current_trace_id() -> str | None:
    if not _enabled:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
