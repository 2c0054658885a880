"""`kind: llm` (the default): LLMAgent, our plan-act-observe tool loop over a chat model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from agenthost.config._types import (
    ConfigStruct,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Problem,
)
from agenthost.config._validate import model_problems, model_ref_problem, tool_ref_problems
from agenthost.config.kinds._base import AgentKindConfig, AgentKindSpec
from agenthost.config.knowledge import (
    AgentMemoryConfig,
    OnRetrievalError,
    RetrievalMode,
    agent_knowledge_problems,
)
from agenthost.config.mcp import McpToolFilter, agent_problems

if TYPE_CHECKING:
    from agenthost.config.kinds._builder import AgentBuilder
    from agenthost.config.schema import AgentHostConfig
    from agenthost.engine.compaction import Compaction
    from agenthost.ports.protocol import Agent

ORDER = 0


class CompactionConfig(ConfigStruct):
    """`compaction:` of an llm agent (docs/compaction.md): when a request to the model would
    pass `budget_tokens`, the turns before the last `keep_turns` are summarised by `model`
    (an alias or id; default: the agent's model) with `instructions`, and the summary is
    stored in the session as a `compaction.summary` event."""

    budget_tokens: Annotated[int, msgspec.Meta(ge=64)]
    keep_turns: PositiveInt = 4
    model: str | None = None
    instructions: str | None = None
    max_summary_tokens: PositiveInt | None = 1024
    timeout: PositiveFloat | None = 120.0


class LLMAgentConfig(AgentKindConfig):
    """An LLMAgent. `model` is an alias from `models:` or a `provider:model` id; unset, it is
    chosen from the environment (AGENTHOST_MODEL, then OPENAI_API_KEY, then the embedded
    model). `tools` are 'package.module:function' refs, 'package.module:*' for every tool
    of a module, 'demo:...' for the demo tools, or 'mcp:SERVER' for every tool of an MCP
    server of `mcp_servers`; `mcp` picks some tools of a server ({SERVER: {allow, deny}}).
    `approval` names the tools (names or shell patterns, e.g. 'time__*') whose calls wait for
    a person's answer (docs/tools.md, Human approval).
    `knowledge_bases` names bases of `knowledge_bases:` searched before each turn (`retrieval:
    context`) or by a `search_knowledge` tool (`tool`); `memory` recalls and remembers the
    user's earlier sessions; see docs/knowledge.md."""

    kind: Literal["llm"] = "llm"
    model: str | None = None
    instructions: str = ""
    tools: list[str] = msgspec.field(default_factory=list)
    mcp: dict[str, McpToolFilter] = msgspec.field(default_factory=dict)
    max_tool_rounds: NonNegativeInt = 10
    parallel_tools: bool = True
    tool_timeout: PositiveFloat | None = 60.0
    max_tool_result_chars: PositiveInt | None = 20_000
    history_max_messages: PositiveInt | None = None
    history_max_tokens: PositiveInt | None = None
    stream: bool = True
    approval: list[str] = msgspec.field(default_factory=list)
    knowledge_bases: list[str] = msgspec.field(default_factory=list)
    retrieval: RetrievalMode = "context"
    retrieval_top_k: PositiveInt = 5
    rerank_model: str | None = None
    rerank_top_k: PositiveInt | None = None
    on_retrieval_error: OnRetrievalError = "fallback"
    memory: AgentMemoryConfig | None = None
    max_tool_images: NonNegativeInt = 4  # images tools return the model sees (newest)
    compaction: CompactionConfig | None = None

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        summariser = None if self.compaction is None else self.compaction.model
        why = None if summariser is None else model_ref_problem(summariser, config)
        return [
            *model_problems(self.model, config),
            *([] if why is None else [(("compaction", "model"), why)]),
            *tool_ref_problems(self.tools),
            *agent_problems(self.tools, self.mcp, config),
            *agent_knowledge_problems(self.knowledge_bases, self.rerank_model, config),
        ]


def build(name: str, config: LLMAgentConfig, builder: AgentBuilder) -> Agent:
    from agenthost.engine.llm_agent import LLMAgent

    models, settings = builder.models(name, config.model)
    tools = builder.tools(name, config.tools, mcp=config.mcp)
    retrieval = None
    if config.knowledge_bases:
        from agenthost.config.knowledge import retrieval_for

        retrieval = retrieval_for(
            builder.config,
            name,
            bases=config.knowledge_bases,
            mode=config.retrieval,
            top_k=config.retrieval_top_k,
            rerank_model=config.rerank_model,
            rerank_top_k=config.rerank_top_k,
            on_error=config.on_retrieval_error,
        )
    memory = None
    if config.memory is not None:
        from agenthost.config.knowledge import memory_for

        memory = memory_for(builder.config, config.memory, config.on_retrieval_error)
    return builder.construct(
        name,
        LLMAgent,
        model=models[0],
        fallbacks=models[1:],
        name=name,
        instructions=config.instructions,
        description=config.description,
        tools=tools,
        max_tool_rounds=config.max_tool_rounds,
        parallel_tools=config.parallel_tools,
        tool_timeout=config.tool_timeout,
        max_tool_result_chars=config.max_tool_result_chars,
        history_max_messages=config.history_max_messages,
        history_max_tokens=config.history_max_tokens,
        stream=config.stream,
        settings=settings,
        approval=config.approval,
        retrieval=retrieval,
        memory=memory,
        max_tool_images=config.max_tool_images,
        compaction=_compaction(name, config.compaction, builder),
    )


def _compaction(
    name: str, config: CompactionConfig | None, builder: AgentBuilder
) -> Compaction | None:
    from agenthost.engine.compaction import DEFAULT_INSTRUCTIONS, Compaction

    if config is None:
        return None
    model = None
    if config.model is not None:
        model = builder.models(name, config.model, field="compaction.model")[0][0]
    return Compaction(
        budget_tokens=config.budget_tokens,
        keep_turns=config.keep_turns,
        model=model,
        instructions=config.instructions or DEFAULT_INSTRUCTIONS,
        max_summary_tokens=config.max_summary_tokens,
        timeout=config.timeout,
    )


KINDS = [
    AgentKindSpec(
        name="llm",
        config=LLMAgentConfig,
        build=build,
        summary="our tool loop over a chat model (the default kind)",
    )
]
