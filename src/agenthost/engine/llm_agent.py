"""LLMAgent: the built-in plan-act-observe tool loop over a ChatModel.

One turn, by phase: prepare (system prompt + windowed history) -> call the model (with retries
and fallbacks, streaming deltas) -> run the tool calls (parallel or serial, each with a timeout
and a result size cap) -> feed the results back -> ... until the model answers without tool
calls or `max_tool_rounds` is used up. Results are yielded in batches (lists) so the runner
stores each step's events in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agenthost.core.approvals import FINISH_REASON
from agenthost.core.errors import (
    AgentHostError,
    ConfigError,
    HostAPIError,
    MaxToolRoundsExceeded,
)
from agenthost.core.ids import new_id
from agenthost.core.messages import Message, ToolCallPart
from agenthost.engine.approval import approval_names, approved_images
from agenthost.engine.catalog import Catalog, as_tool
from agenthost.engine.compaction import Compaction, Compactor
from agenthost.engine.history import window
from agenthost.engine.model_chain import ModelChain, RetryPolicy
from agenthost.engine.resolve import resolve_model
from agenthost.engine.retrieval import MEMORY_TOOL, TOOL_NAME, MemoryUse, Retrieval
from agenthost.engine.shown import Shown
from agenthost.engine.tool_exec import cap, error_output
from agenthost.engine.tool_images import images_message, keep_newest
from agenthost.ports.models import (
    ChatModel,
    ModelResponse,
    ModelSettings,
    ResponseDone,
    TextDelta,
    ToolSpec,
)
from agenthost.ports.protocol import (
    ApprovalRequested,
    Capabilities,
    HostAPI,
    KnowledgeResource,
    Manifest,
    MessageCompleted,
    MessageDelta,
    ModelResource,
    Permissions,
    Resources,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunFailed,
    RunResult,
    ToolCallCompleted,
    ToolCallStarted,
    ToolResource,
)
from agenthost.ports.tools import Tool, ToolOutput

log = logging.getLogger("agenthost.llm_agent")


class LLMAgent:
    """The default agent. `model` and `fallbacks` are ChatModels or 'provider:model' ids.
    `retrieval` searches knowledge bases before each turn or as a tool; `memory` recalls and
    remembers the user's earlier sessions (engine/retrieval.py)."""

    def __init__(
        self,
        *,
        model: str | ChatModel,
        name: str = "assistant",
        instructions: str = "",
        description: str = "",
        tools: Sequence[Any] = (),
        fallbacks: Sequence[str | ChatModel] = (),
        max_tool_rounds: int = 10,
        parallel_tools: bool = True,
        tool_timeout: float | None = 60.0,
        max_tool_result_chars: int | None = 20_000,
        history_max_messages: int | None = None,
        history_max_tokens: int | None = None,
        stream: bool = True,
        settings: ModelSettings | None = None,
        retry: RetryPolicy | None = None,
        approval: Sequence[str] = (),
        retrieval: Retrieval | None = None,
        memory: MemoryUse | None = None,
        max_tool_images: int = 4,
        compaction: Compaction | None = None,
    ) -> None:
        if max_tool_rounds < 0:
            raise ConfigError(f"max_tool_rounds must be >= 0, got {max_tool_rounds}")
        self.name = name
        self.instructions = instructions
        specs = (model, *fallbacks)
        self.models: list[ChatModel] = [resolve_model(m) for m in specs]
        # models made here from 'provider:model' strings are ours to open and close
        self._owned = [
            m for spec, m in zip(specs, self.models, strict=True) if isinstance(spec, str)
        ]
        self.tools: list[Tool] = [as_tool(t) for t in tools]
        # names of the tools whose calls wait for a person's answer (engine/approval.py)
        self.approval = approval_names(self.tools, approval)
        self.max_tool_rounds = max_tool_rounds
        self.parallel_tools = parallel_tools
        self.tool_timeout = tool_timeout
        self.max_tool_result_chars = max_tool_result_chars
        # images tools return that the model sees, newest first (engine/tool_images.py)
        self.max_tool_images = max_tool_images
        self.history_max_messages = history_max_messages
        self.history_max_tokens = history_max_tokens
        self.stream = stream
        self.settings = settings
        self.retry = retry or RetryPolicy()
        # summarises older turns when a request passes its budget (engine/compaction.py)
        self.compaction = None if compaction is None else Compactor(compaction, self.models[0])
        self._extra_models = [] if self.compaction is None else self.compaction.extra(self)
        self._model_ids = [m.name for m in self.models]
        self.retrieval = retrieval
        self._tool_specs = [t.spec for t in self.tools]
        if retrieval is not None and retrieval.mode == "tool":
            self._tool_specs.append(retrieval.tool_spec())
        self.memory = memory
        if memory is not None and memory.tool:
            self._tool_specs.append(memory.tool_spec())
        self._own_tools = {TOOL_NAME, MEMORY_TOOL} & {s.name for s in self._tool_specs}
        # what a turn does besides the loop: search before it, remember after it
        self._searches = (retrieval is not None and retrieval.mode == "context") or (
            memory is not None and memory.context
        )
        self._remembers = memory is not None and memory.auto_add
        self._system = Message.system(instructions) if instructions else None
        self._manifest = Manifest(
            id=f"agenthost:llm/{name}",
            name=name,
            description=description or "Tool-calling agent over a chat model.",
            capabilities=Capabilities(
                streaming=True,
                tool_calling=bool(self._tool_specs),
                knowledge_retrieval=retrieval is not None,
                interrupt=True,
            ),
            permissions=Permissions(
                models=True,
                tools=bool(self.tools),
                knowledge_bases=retrieval is not None,
                history=["page"],
                state=["session"],
            ),
        )

    # ---- resources ------------------------------------------------------------------------

    async def __aenter__(self) -> LLMAgent:
        for model in self._owned:
            await model.__aenter__()
        if self.retrieval is not None:
            await self.retrieval.open()
        if self.memory is not None:
            await self.memory.open()
        for tool in self.tools:  # tools that hold resources (agent_tool's agent)
            enter = getattr(tool, "__aenter__", None)
            if enter is not None and hasattr(tool, "aclose"):
                await enter()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the models this agent made from 'provider:model' strings, and the tools that
        hold resources."""
        for tool in self.tools:
            close = getattr(tool, "aclose", None)
            if close is not None and hasattr(tool, "__aenter__"):
                await close()
        for model in self._owned:
            await model.__aexit__(None, None, None)
        if self.retrieval is not None:
            await self.retrieval.aclose()
        if self.memory is not None:
            await self.memory.aclose()

    # ---- what the host needs to know ------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def catalog(self) -> Catalog:
        catalog = Catalog()
        catalog.add_models([*self.models, *self._extra_models])
        catalog.add_tools(self.tools)
        if self.retrieval is not None:
            catalog.add_knowledge(self.retrieval.bases)
        return catalog

    def resources(self) -> Resources:
        return Resources(
            models=[ModelResource(model_id=m.name) for m in [*self.models, *self._extra_models]],
            tools=[
                ToolResource(tool_name=s.name, description=s.description, parameters=s.parameters)
                for s in self._tool_specs
                if s.name not in self._own_tools
            ],
            knowledge_bases=[
                KnowledgeResource(kb_id=kb.id, operations=["retrieve"])
                for kb in (self.retrieval.bases if self.retrieval is not None else ())
            ],
        )

    # ---- the loop -------------------------------------------------------------------------

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        # this turn's knowledge and memory excerpts are searched first, so that compaction
        # counts the request as it will be sent; the events keep their order (compaction,
        # retrieval, memory), and so does the request (history, excerpts, approved images)
        contexts: list[str] = []
        retrieved: list[RunResult] = []
        if self._searches:
            contexts, retrieved = await self._contexts(ctx, host)
        approved = approved_images()  # an approved call's images (engine/approval.py)
        if approved is not None and self.max_tool_images <= 0:
            approved = None
        if self.compaction is None:
            messages = self._prepare(await host.history.messages())
        else:
            history, notes = await self.compaction.prepare(
                host, self._system_with(contexts), self._tool_specs, [approved] if approved else []
            )
            if notes:
                yield notes
            messages = self._prepare(history)
        for event in retrieved:
            yield [event]
        for context in contexts:
            self._add_context(messages, context)
        if approved is not None:
            messages.append(approved)
            keep_newest(messages, self.max_tool_images)
        model = ModelChain.over(host.models, self._model_ids, self.retry)
        streaming = self.stream and ctx.delivery.supports_streaming
        tools = self._tool_specs
        for round_no in range(self.max_tool_rounds + 1):
            response: ModelResponse | None = None
            if streaming:
                shown = Shown()  # the text the user saw, kept if the stream breaks off
                try:
                    async for item in model.stream(messages, tools=tools, settings=self.settings):
                        if type(item) is TextDelta:
                            shown.text.append(item.text)
                            yield MessageDelta(text=item.text)
                        elif type(item) is ResponseDone:
                            response = item.response
                except AgentHostError as exc:
                    cut = shown.cut_off()
                    if cut is None:
                        raise
                    yield [
                        cut,
                        RunFailed(error=exc.message, code=exc.code, retryable=exc.retryable),
                    ]
                    return
            else:
                response = await model.request(messages, tools=tools, settings=self.settings)
            assert response is not None, "a model stream ended without ResponseDone"
            done = MessageCompleted(
                message=response.message, usage=response.usage, model=response.model
            )
            calls = response.message.tool_calls
            if not calls:
                if self._remembers:
                    await self._remember(ctx, [*messages, response.message])
                yield [done, RunCompleted(finish_reason=response.finish_reason or "stop")]
                return
            if round_no == self.max_tool_rounds:
                error = MaxToolRoundsExceeded(self.max_tool_rounds)
                yield [done, RunFailed(error=error.message, code=error.code)]
                return
            if self.approval and any(c.name in self.approval for c in calls):
                async for batch in self._pause(host, done, calls, ctx.context.user_id):
                    yield batch
                return
            yield [done, *self._started(calls)]
            found: list[RunResult] = []
            outputs = await self._run_tools(host, calls, found, ctx.context.user_id)
            completed = [self._completed(c, o) for c, o in zip(calls, outputs, strict=True)]
            yield [*completed, *found]
            messages.append(response.message)
            messages.extend(c.tool_message() for c in completed)
            images = images_message(calls, outputs) if self.max_tool_images > 0 else None
            if images is not None:
                messages.append(images)
                keep_newest(messages, self.max_tool_images)

    def _prepare(self, history: list[Message]) -> list[Message]:
        if self.history_max_messages is not None or self.history_max_tokens is not None:
            history = window(
                history,
                max_messages=self.history_max_messages,
                max_tokens=self.history_max_tokens,
            )
        if self._system is not None:
            history.insert(0, self._system)
        return history

    async def _pause(
        self, host: HostAPI, done: MessageCompleted, calls: list[ToolCallPart], user: str
    ) -> AsyncIterator[ResultBatch]:
        """Run the calls of this turn that need no approval, then end the run paused with
        an approval request for each of the others (engine/approval.py)."""
        free = [c for c in calls if c.name not in self.approval]
        yield [done, *self._started(free)]
        found: list[RunResult] = []
        outputs = await self._run_tools(host, free, found, user) if free else []
        completed = [self._completed(c, o) for c, o in zip(free, outputs, strict=True)]
        requests = [
            ApprovalRequested(
                approval_id=new_id(), tool_call_id=c.id, tool_name=c.name, arguments=c.arguments
            )
            for c in calls
            if c.name in self.approval
        ]
        yield [*completed, *found, *requests, RunCompleted(finish_reason=FINISH_REASON)]

    async def _remember(self, ctx: RunContext, messages: list[Message]) -> None:
        """Remember the session in the user's memory (best effort: a failure is logged)."""
        memory = self.memory
        assert memory is not None
        from agenthost.engine.retrieval import transcript

        try:
            await memory.memory.add_session(
                ctx.context.user_id,
                app=ctx.context.app,
                session_id=ctx.context.conversation_id,
                transcript=transcript(messages),
            )
        except AgentHostError as exc:
            log.warning("could not remember session %s: %s", ctx.context.conversation_id, exc)

    async def _contexts(self, ctx: RunContext, host: HostAPI) -> tuple[list[str], list[RunResult]]:
        """The excerpts retrieval and memory add to this turn's system prompt (`context`
        modes), and the events that say what was found."""
        text = ctx.input.text
        contexts: list[str] = []
        found: list[RunResult] = []
        if not text.strip():
            return contexts, found
        retrieval = self.retrieval
        if retrieval is not None and retrieval.mode == "context":
            chunks, retrieved = await retrieval.search(host, text)
            found.append(retrieved)
            contexts.append(retrieval.context(chunks))
        memory = self.memory
        if memory is not None and memory.context:
            remembered, recalled = await memory.search(
                ctx.context.user_id, text, "memory", session_id=ctx.context.conversation_id
            )
            found.append(recalled)
            contexts.append(memory.context_text(remembered))
        return contexts, found

    def _system_with(self, contexts: list[str]) -> Message | None:
        """The system message as it will be sent, with the excerpts added."""
        messages = [self._system] if self._system is not None else []
        for context in contexts:
            self._add_context(messages, context)
        return messages[0] if messages else None

    def _add_context(self, messages: list[Message], context: str) -> None:
        """The retrieved excerpts join the system prompt (one system message: small models'
        chat templates take only one)."""
        if not context:
            return
        if messages and messages[0].role == "system":
            messages[0] = Message.system(f"{messages[0].text}\n\n{context}")
        else:
            messages.insert(0, Message.system(context))

    @staticmethod
    def _started(calls: list[ToolCallPart]) -> list[RunResult]:
        return [
            ToolCallStarted(tool_call_id=c.id, tool_name=c.name, parameters=c.arguments)
            for c in calls
        ]

    def _completed(self, call: ToolCallPart, output: ToolOutput) -> ToolCallCompleted:
        content = cap(output.content, self.max_tool_result_chars)
        return ToolCallCompleted.of(call.id, call.name, content, error=output.is_error)

    async def _run_tools(
        self, host: HostAPI, calls: list[ToolCallPart], found: list[RunResult], user: str
    ) -> list[ToolOutput]:
        if len(calls) == 1:  # the usual case: no comprehension's frame, no task group
            return [await self._run_tool(host, calls[0], found, user)]
        if not self.parallel_tools:
            return [await self._run_tool(host, call, found, user) for call in calls]
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._run_tool(host, call, found, user)) for call in calls]
        return [task.result() for task in tasks]

    async def _run_tool(
        self, host: HostAPI, call: ToolCallPart, found: list[RunResult], user: str
    ) -> ToolOutput:
        try:
            arguments = call.parsed_arguments()
        except ValueError as exc:
            return ToolOutput(
                content=f"error: the arguments are not a JSON object ({exc}); "
                f"send the arguments as a JSON object matching the tool's schema",
                is_error=True,
            )
        if call.name in self._own_tools:
            return await self._search_tool(host, call.name, arguments, found, user)
        try:
            return await host.tools.call(call.name, arguments, timeout=self.tool_timeout)
        except HostAPIError as exc:
            if exc.code in ("unauthorized", "not_found"):
                names = ", ".join(s.name for s in self._tool_specs) or "none"
                return ToolOutput(
                    content=f"error: there is no tool {call.name!r}; available tools: {names}",
                    is_error=True,
                )
            return error_output(exc)

    async def _search_tool(
        self, host: HostAPI, name: str, arguments: dict[str, Any], found: list[RunResult], user: str
    ) -> ToolOutput:
        """search_knowledge or load_memory, run by the agent itself."""
        from agenthost.engine.retrieval import format_chunks

        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            return ToolOutput(
                content='error: pass {"query": "what to look for"} as a non-empty string',
                is_error=True,
            )
        if name == MEMORY_TOOL and self.memory is not None:
            chunks, event = await self.memory.search(user, query, "memory")
            empty = "nothing in your memory of earlier conversations matches that"
        else:
            assert self.retrieval is not None
            chunks, event = await self.retrieval.search(host, query)
            empty = "no passage in the knowledge base matches that query"
        found.append(event)
        return ToolOutput(content=format_chunks(chunks) or empty)


__all__ = ["LLMAgent", "ToolSpec"]
