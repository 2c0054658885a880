"""ADKAgent: a Google ADK agent hosted as an agenthost agent (extra `adk`).

History: every run gets a fresh ADK session in its own `InMemorySessionService`; the session's
messages before this run are appended to it as ADK events (user text, the agent's text and
function calls, function responses), and the run's user message is `new_message`. Nothing is
kept in session state. A tool result is given back to ADK as `{"result": <text>}`, the shape
ADK itself gives a tool that returns a plain value, and a `{"result": ...}` response is reported
as its value.

The run goes through `google.adk.runners.Runner.run_async()` with SSE streaming:

    partial event: text parts                   MessageDelta
    final model event: text, function calls     MessageCompleted (text, function calls,
                                                 usage_metadata, model_version),
                                                 then ToolCallStarted for each call
    event: function responses                   ToolCallCompleted (error when the response
                                                 holds an "error")
    event with an error_code                    RunFailed (ADK reports exceptions as
                                                 events: adapter.model_error when its
                                                 message has an HTTP status, else
                                                 adapter.error)
    end of the stream                           RunCompleted

Knowledge, memory and artifacts (see AdapterAgent): with `memory=True` the run's ADK Runner
gets a memory service over the run's `host.memory`, and with `artifacts=True` an artifact
service over its `host.artifacts` (_adk_services.py), so ADK's own `load_memory` and
`load_artifacts` tools (added to an `LlmAgent` that lacks them) and `tool_context.search_memory`
/ `save_artifact` / `load_artifact` use agenthost's stores; `knowledge` adds a
`search_knowledge` function tool. Tools are added to a per-run clone of the agent.

Cancelling the run closes the `run_async` generator, which cancels the HTTP request to the
model.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any, ClassVar, Unpack

from agenthost.backends.adapters._common import (
    ADAPTER_ERROR,
    AdapterAgent,
    ResourceOptions,
    assistant,
    json_text,
    missing,
    model_failure,
    plain_text,
    split_history,
    transport_failure,
    usage,
)
from agenthost.backends.adapters._host_tools import DOCS, RunTools
from agenthost.core.errors import AgentHostError
from agenthost.core.messages import Message, ToolCallPart, ToolResultPart
from agenthost.engine.retrieval import MEMORY_TOOL
from agenthost.ports.protocol import (
    HostAPI,
    MessageCompleted,
    MessageDelta,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunFailed,
    RunResult,
    ToolCallCompleted,
    ToolCallStarted,
)

try:
    from google.adk.agents import BaseAgent, LlmAgent, RunConfig
    from google.adk.agents.run_config import StreamingMode  # type: ignore[attr-defined]
    from google.adk.events import Event
    from google.adk.runners import Runner
    from google.adk.sessions import InMemorySessionService
    from google.adk.tools.load_artifacts_tool import load_artifacts_tool as load_artifacts
    from google.adk.tools.tool_context import ToolContext
    from google.genai import types

    from agenthost.backends.adapters._adk_services import HostArtifactService, HostMemoryService
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing("The Google ADK adapter", "adk", exc) from exc


class ADKAgent(AdapterAgent):
    """`agent` (an ADK agent, e.g. an `LlmAgent`) as an agent; `run_config` is passed to every
    run (its streaming mode is set to SSE unless it says otherwise); `knowledge`, `memory`
    and `artifacts` give it agenthost's stores (see the module docstring)."""

    kind: ClassVar[str] = "adk"
    framework: ClassVar[str] = "Google ADK"

    def __init__(
        self,
        agent: BaseAgent,
        *,
        name: str | None = None,
        description: str = "",
        run_config: RunConfig | None = None,
        **resources: Unpack[ResourceOptions],
    ) -> None:
        super().__init__(
            name=name or agent.name or "adk",
            description=description or agent.description,
            **resources,
        )
        self.agent = agent
        self.run_config = run_config or RunConfig(streaming_mode=StreamingMode.SSE)

    def _agent(self, tools: RunTools) -> BaseAgent:
        """The agent for one run: an LlmAgent gets the host tools it lacks (a clone)."""
        agent = self.agent
        if not isinstance(agent, LlmAgent):
            return agent
        names = {getattr(t, "name", getattr(t, "__name__", None)) for t in agent.tools}
        extra: list[Any] = [f for f in tools.functions() if f.__name__ == "search_knowledge"]
        if tools.memory and MEMORY_TOOL not in names:
            extra.append(load_memory)
        if tools.artifacts and load_artifacts.name not in names:
            extra.append(load_artifacts)
        return agent.clone(update={"tools": [*agent.tools, *extra]}) if extra else agent

    async def _turn(
        self, ctx: RunContext, host: HostAPI, tools: RunTools
    ) -> AsyncGenerator[ResultBatch, None]:
        prior, current = split_history(await host.history.messages())
        app, user = ctx.context.app or "agenthost", ctx.context.user_id or "user"
        sessions = InMemorySessionService()
        session = await sessions.create_session(app_name=app, user_id=user, session_id=ctx.run_id)
        for event in to_adk_events(prior, author=self.agent.name, run_id=ctx.run_id):
            await sessions.append_event(session, event)
        text = current.text if current is not None else ctx.input.text
        runner = Runner(
            app_name=app,
            agent=self._agent(tools),
            session_service=sessions,
            memory_service=HostMemoryService(tools) if tools.memory else None,
            artifact_service=HostArtifactService(tools) if tools.artifacts else None,
        )
        stream = runner.run_async(
            user_id=user,
            session_id=session.id,
            new_message=types.Content(role="user", parts=[types.Part(text=text)]),
            run_config=self.run_config,
        )
        async with aclosing(stream):
            async for event in stream:
                results = _results(event)
                if results:
                    yield results
                    if isinstance(results[-1], RunFailed):
                        return
        yield RunCompleted()


async def load_memory(query: str, tool_context: ToolContext) -> str:
    try:
        found = await tool_context.search_memory(query)
    except AgentHostError as exc:  # not granted: the model reads why, as with other tools
        return f"error: {exc.message}"
    texts = [
        f"[{n}] {m.id or ''}:\n" + "".join(p.text or "" for p in m.content.parts or ())
        for n, m in enumerate(found.memories, 1)
    ]
    return "\n\n".join(texts) or "nothing in your memory of earlier conversations matches that"


# ADK's own load_memory tool answers a pydantic object, which ADK's OpenAILlm cannot send
# (json.dumps); this one searches the same memory service (tool_context.search_memory) and
# answers text
load_memory.__doc__ = DOCS[MEMORY_TOOL]


def _results(event: Event) -> list[RunResult]:
    if event.error_code and not event.partial:
        return [_failed(str(event.error_code), event.error_message or "")]
    content = event.content
    parts = list(content.parts or ()) if content is not None else []
    if event.partial:
        text = "".join(p.text for p in parts if p.text and not p.thought)
        return [MessageDelta(text=text)] if text else []
    out: list[RunResult] = []
    if content is not None and content.role == "model":
        text = "".join(p.text for p in parts if p.text and not p.thought)
        calls = [
            ToolCallPart(
                id=p.function_call.id or "",
                name=p.function_call.name or "",
                arguments=json_text(p.function_call.args),
            )
            for p in parts
            if p.function_call is not None
        ]
        if text or calls:
            meta = event.usage_metadata
            out.append(
                MessageCompleted(
                    message=assistant(text, calls),
                    usage=usage(meta.prompt_token_count, meta.candidates_token_count)
                    if meta is not None
                    else None,
                    model=event.model_version,
                )
            )
            out.extend(
                ToolCallStarted(tool_call_id=c.id, tool_name=c.name, parameters=c.arguments)
                for c in calls
            )
    for part in parts:
        response = part.function_response
        if response is None:
            continue
        value: Any = response.response
        error = value.get("error") if isinstance(value, dict) else None
        if isinstance(value, dict) and set(value) == {"result"}:
            value = value["result"]
        result = plain_text(value)
        out.append(
            ToolCallCompleted(
                tool_call_id=response.id or "",
                tool_name=response.name or "",
                result=result,
                error=plain_text(error) if error else None,
            )
        )
    return out


# ADK reports an exception as an event (code: the exception's class name or the API's
# status, message: its text); the OpenAI client's text says "Error code: 503 - ..."
_HTTP_STATUS = re.compile(r"\b(?:Error code|status(?: code)?):? (\d{3})\b", re.IGNORECASE)


def _failed(code: str, message: str) -> RunFailed:
    error = f"{code}: {message}" if message else code
    status = _HTTP_STATUS.search(message)
    if status is not None:
        return model_failure(error, int(status.group(1)))
    return transport_failure(error, {code}) or RunFailed(error=error, code=ADAPTER_ERROR)


def to_adk_events(history: Sequence[Message], *, author: str, run_id: str) -> list[Event]:
    """Our messages as ADK session events (text, function calls and function responses;
    images and files are left out). The agent's messages are authored by `author`, so that
    ADK gives them to the model as its own turns."""
    out: list[Event] = []
    for message in history:
        parts: list[types.Part] = []
        if message.role == "assistant":
            if message.text:
                parts.append(types.Part(text=message.text))
            parts.extend(
                types.Part(function_call=types.FunctionCall(id=c.id, name=c.name, args=_args(c)))
                for c in message.tool_calls
            )
            role, who = "model", author
        elif message.role == "tool":
            parts.extend(
                types.Part(
                    function_response=types.FunctionResponse(
                        id=p.tool_call_id, name=p.name, response={"result": p.content}
                    )
                )
                for p in message.parts
                if isinstance(p, ToolResultPart)
            )
            role, who = "user", author
        else:  # user and system text
            if message.text:
                parts.append(types.Part(text=message.text))
            role, who = "user", "user"
        if parts:
            content = types.Content(role=role, parts=parts)
            out.append(Event(invocation_id=f"history-{run_id}", author=who, content=content))
    return out


def _args(call: ToolCallPart) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError:
        return {"input": call.arguments}
