"""LangGraphAgent: a LangGraph compiled graph hosted as an agenthost agent (extra `langgraph`).

History: the session's messages are converted to LangChain messages (HumanMessage, AIMessage
with its tool calls, ToolMessage, SystemMessage) and passed as the graph's input under
`input_key` (default "messages", the key of `MessagesState`). The graph needs no checkpointer;
nothing is kept in session state. `config` is passed to every run (recursion limit, ...).

The graph runs with `astream(stream_mode=["messages", "updates"])`:

    messages: AIMessageChunk text      MessageDelta
    updates: an AIMessage              MessageCompleted (text, tool calls, usage_metadata),
                                       then ToolCallStarted for each of its tool calls
    updates: a ToolMessage             ToolCallCompleted (error when its status is "error")
    end of the stream                  RunCompleted

A compiled graph's tools are fixed when it is built, so the run's host tools (knowledge,
memory, artifacts: see AdapterAgent) are LangChain tools the graph is built with:
`LangGraphAgent.host_tools()`. Each run passes its own tools in the graph's config
(`configurable["agenthost_tools"]`), which LangGraph hands every tool call; a host tool in a
graph whose adapter was not given that resource answers `error: ...`.

Cancelling the run closes the `astream` generator, which cancels the running node.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import Any, ClassVar, Unpack

from agenthost.backends.adapters._common import (
    AdapterAgent,
    ResourceOptions,
    assistant,
    json_text,
    missing,
    plain_text,
    usage,
)
from agenthost.backends.adapters._host_tools import DOCS, RunTools
from agenthost.core.messages import Message, ToolCallPart, ToolResultPart
from agenthost.ports.protocol import (
    HostAPI,
    MessageCompleted,
    MessageDelta,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunResult,
    ToolCallCompleted,
    ToolCallStarted,
)

try:
    from langchain_core import messages as lc
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool, StructuredTool
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing("The LangGraph adapter", "langgraph", exc) from exc


class LangGraphAgent(AdapterAgent):
    """`graph` (a compiled LangGraph graph whose state holds a message list under
    `input_key`) as an agent; `knowledge`, `memory` and `artifacts` grant its runs those
    resources for the graph's `host_tools()` (see AdapterAgent)."""

    kind: ClassVar[str] = "langgraph"
    framework: ClassVar[str] = "LangGraph"

    def __init__(
        self,
        graph: Any,
        *,
        input_key: str = "messages",
        name: str | None = None,
        description: str = "",
        config: dict[str, Any] | None = None,
        **resources: Unpack[ResourceOptions],
    ) -> None:
        super().__init__(
            name=name or getattr(graph, "name", None) or "langgraph",
            description=description,
            **resources,
        )
        self.graph = graph
        self.input_key = input_key
        self.config = dict(config or {})

    @staticmethod
    def host_tools(
        *, knowledge: bool = True, memory: bool = True, artifacts: bool = True
    ) -> list[BaseTool]:
        """LangChain tools over the run's host API, to build the graph with (bind them to the
        model and put them in its ToolNode): `search_knowledge`, `load_memory`, and
        `save_artifact`, `load_artifact`, `list_artifacts`."""
        table: list[tuple[bool, Callable[..., Awaitable[str]]]] = [
            (knowledge, _search_knowledge),
            (memory, _load_memory),
            (artifacts, _save_artifact),
            (artifacts, _load_artifact),
            (artifacts, _list_artifacts),
        ]
        return [
            StructuredTool.from_function(
                coroutine=f, name=f.__name__[1:], description=DOCS[f.__name__[1:]]
            )
            for wanted, f in table
            if wanted
        ]

    async def _turn(
        self, ctx: RunContext, host: HostAPI, tools: RunTools
    ) -> AsyncGenerator[ResultBatch, None]:
        history = await host.history.messages()
        graph_input = {self.input_key: to_langchain(history)}
        configurable = {**self.config.get("configurable", {}), TOOLS_KEY: tools}
        stream = self.graph.astream(
            graph_input,
            config={**self.config, "configurable": configurable},
            stream_mode=["messages", "updates"],
        )
        async with aclosing(stream):
            async for mode, chunk in stream:
                if mode == "messages":
                    message = chunk[0]
                    if isinstance(message, lc.AIMessageChunk):
                        text = _text(message.content)
                        if text:
                            yield MessageDelta(text=text)
                elif mode == "updates" and isinstance(chunk, dict):
                    results: list[RunResult] = []
                    for update in chunk.values():
                        for message in self._messages(update):
                            results.extend(_results(message))
                    if results:
                        yield results
        yield RunCompleted()

    def _messages(self, update: Any) -> list[Any]:
        if not isinstance(update, dict):
            return []
        value = update.get(self.input_key)
        if value is None:
            return []
        return list(value) if isinstance(value, list | tuple) else [value]


TOOLS_KEY = "agenthost_tools"  # the run's RunTools in the graph config's `configurable`


def _run_tools(config: RunnableConfig) -> RunTools:
    tools = (config.get("configurable") or {}).get(TOOLS_KEY)
    if not isinstance(tools, RunTools):
        raise RuntimeError("agenthost's host tools run only inside a LangGraphAgent's run")
    return tools


async def _search_knowledge(query: str, config: RunnableConfig) -> str:
    return await _run_tools(config).search_knowledge(query)


async def _load_memory(query: str, config: RunnableConfig) -> str:
    return await _run_tools(config).load_memory(query)


async def _save_artifact(name: str, content: str, config: RunnableConfig) -> str:
    return await _run_tools(config).save_artifact(name, content)


async def _load_artifact(name: str, config: RunnableConfig) -> str:
    return await _run_tools(config).load_artifact(name)


async def _list_artifacts(config: RunnableConfig) -> str:
    return await _run_tools(config).list_artifacts()


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text")
        )
    return ""


def _results(message: Any) -> list[RunResult]:
    if isinstance(message, lc.AIMessage):
        calls = [
            ToolCallPart(id=c.get("id") or "", name=c["name"], arguments=json_text(c.get("args")))
            for c in message.tool_calls
        ]
        meta: dict[str, Any] = dict(message.usage_metadata or {})
        model = (message.response_metadata or {}).get("model_name")
        out: list[RunResult] = [
            MessageCompleted(
                message=assistant(_text(message.content), calls),
                usage=usage(meta.get("input_tokens"), meta.get("output_tokens")),
                model=model if isinstance(model, str) else None,
            )
        ]
        out.extend(
            ToolCallStarted(tool_call_id=c.id, tool_name=c.name, parameters=c.arguments)
            for c in calls
        )
        return out
    if isinstance(message, lc.ToolMessage):
        content = plain_text(_text(message.content) or message.content)
        return [
            ToolCallCompleted(
                tool_call_id=message.tool_call_id,
                tool_name=message.name or "",
                result=content,
                error=content if message.status == "error" else None,
            )
        ]
    return []


def to_langchain(history: Sequence[Message]) -> list[lc.BaseMessage]:
    """Our messages as LangChain messages (text, tool calls and tool results; images and files
    are left out)."""
    out: list[lc.BaseMessage] = []
    for message in history:
        if message.role == "user":
            out.append(lc.HumanMessage(content=message.text))
        elif message.role == "system":
            out.append(lc.SystemMessage(content=message.text))
        elif message.role == "assistant":
            calls = [
                lc.ToolCall(name=c.name, args=_args(c), id=c.id, type="tool_call")
                for c in message.tool_calls
            ]
            out.append(lc.AIMessage(content=message.text, tool_calls=calls))
        else:
            for part in message.parts:
                if isinstance(part, ToolResultPart):
                    out.append(
                        lc.ToolMessage(
                            content=part.content,
                            tool_call_id=part.tool_call_id,
                            name=part.name,
                            status="error" if part.is_error else "success",
                        )
                    )
    return out


def _args(call: ToolCallPart) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError:
        return {"input": call.arguments}
