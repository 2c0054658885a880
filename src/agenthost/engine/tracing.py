"""OpenTelemetry spans: one per run, model call and tool call.

No-op unless an OpenTelemetry SDK tracer provider is configured by the application before the
first run (the check is made once and cached; `reset()` makes it again). The API package is
imported lazily, on the first span, so `import agenthost` stays light, and with no provider a
span costs one boolean test. Attribute
names follow the GenAI semantic conventions where they exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

_tracer: Any = None
_enabled: bool | None = None
_NOOP: AbstractContextManager[None] = nullcontext()


def _get_tracer() -> Any:
    global _tracer, _enabled
    if _enabled is False:
        return None
    if _enabled is None:
        try:
            from opentelemetry import trace
        except ImportError:  # pragma: no cover - opentelemetry-api is a dependency
            _enabled = False
            return None
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
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


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    tracer = _get_tracer()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes) as current:
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
    if _enabled is False:
        return _NOOP
    return span(
        f"chat {model_id}",
        **{"gen_ai.operation.name": "chat", "gen_ai.request.model": model_id},
    )


def tool_span(tool_name: str) -> Any:
    if _enabled is False:
        return _NOOP
    return span(
        f"execute_tool {tool_name}",
        **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool_name},
    )


def current_trace_id() -> str | None:
    if not _enabled:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
