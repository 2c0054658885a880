"""`kind: pydantic_ai | langgraph | openai_agents | adk | agentscope`: an agent written with
another framework, named by `object: "package.module:attribute"` (imported when the agent is
built; the framework's own extra must be installed). The framework agent brings its own model
and tools; `knowledge_bases`, `memory` and `artifacts` give it agenthost's (see
docs/agents.md, "Knowledge, memory and artifacts")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec

from agenthost.config._types import PositiveInt, Problem
from agenthost.config._validate import object_ref_problem
from agenthost.config.kinds._base import AgentKindConfig, AgentKindSpec
from agenthost.config.knowledge import agent_knowledge_problems

if TYPE_CHECKING:
    from agenthost.config.kinds._builder import AgentBuilder
    from agenthost.config.schema import AgentHostConfig
    from agenthost.ports.protocol import Agent

ORDER = 40


class _AdapterConfig(AgentKindConfig, kw_only=True):
    """`knowledge_bases` (names of `knowledge_bases:` entries) give the framework agent a
    `search_knowledge` tool over them (`retrieval_top_k` chunks, reranked by `rerank_model`
    to `rerank_top_k`); `memory: true` a `load_memory` tool over the run's user's long-term
    memory (the knowledge store's); `artifacts: true` tools over the run's session's files."""

    object: str
    knowledge_bases: list[str] = msgspec.field(default_factory=list)
    retrieval_top_k: PositiveInt = 5
    rerank_model: str | None = None
    rerank_top_k: PositiveInt | None = None
    memory: bool = False
    artifacts: bool = False

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        why = object_ref_problem(self.object)
        return [
            *([(("object",), why)] if why else []),
            *agent_knowledge_problems(self.knowledge_bases, self.rerank_model, config),
        ]

    def options(self) -> dict[str, Any]:
        """The adapter's own keyword arguments that are set."""
        skip = {"kind", "description", "object", *_USES}
        return {
            f: getattr(self, f)
            for f in self.__struct_fields__
            if f not in skip and getattr(self, f) is not None
        }


class PydanticAIAgentConfig(_AdapterConfig, kw_only=True):
    """A `pydantic_ai.Agent` with a text output; `model_settings` go to every run."""

    kind: Literal["pydantic_ai"] = "pydantic_ai"
    model_settings: dict[str, Any] | None = None


class LangGraphAgentConfig(_AdapterConfig, kw_only=True):
    """A compiled LangGraph graph whose state keeps its messages under `input_key`; `config`
    is its RunnableConfig."""

    kind: Literal["langgraph"] = "langgraph"
    input_key: str | None = None
    config: dict[str, Any] | None = None


class OpenAIAgentsAgentConfig(_AdapterConfig, kw_only=True):
    """An OpenAI Agents SDK `Agent`; `max_turns` per run. `tracing: false` stops the SDK
    sending its traces to OpenAI (needed when the model is not OpenAI's: else each run logs
    `Tracing request failed`); unset, the SDK's default and `OPENAI_AGENTS_DISABLE_TRACING`
    decide."""

    kind: Literal["openai_agents"] = "openai_agents"
    max_turns: PositiveInt | None = None
    tracing: bool | None = None


class ADKAgentConfig(_AdapterConfig, kw_only=True):
    """A Google ADK agent (e.g. an `LlmAgent`)."""

    kind: Literal["adk"] = "adk"


class AgentScopeAgentConfig(_AdapterConfig, kw_only=True):
    """An AgentScope agent whose tools run without asking."""

    kind: Literal["agentscope"] = "agentscope"


_USES = (
    "knowledge_bases",
    "retrieval_top_k",
    "rerank_model",
    "rerank_top_k",
    "memory",
    "artifacts",
)


def _builder(class_name: str) -> Any:
    def build(name: str, config: _AdapterConfig, builder: AgentBuilder) -> Agent:
        import agenthost.backends.adapters as adapters

        target = builder.object(config.object, where=f"agents.{name}.object")
        cls = builder.construct(name, getattr, adapters, class_name)  # imports the framework
        made: Agent = builder.construct(
            name,
            cls,
            target,
            name=name,
            description=config.description,
            **_uses(name, config, builder),
            **config.options(),
        )
        return made

    return build


def _uses(name: str, config: _AdapterConfig, builder: AgentBuilder) -> dict[str, Any]:
    """The adapter's `knowledge`, `memory` and `artifacts` options from the entry."""
    from agenthost.config.knowledge import AgentMemoryConfig, memory_for, retrieval_for

    uses: dict[str, Any] = {"artifacts": config.artifacts}
    if config.knowledge_bases:
        uses["knowledge"] = retrieval_for(
            builder.config,
            name,
            bases=config.knowledge_bases,
            mode="tool",
            top_k=config.retrieval_top_k,
            rerank_model=config.rerank_model,
            rerank_top_k=config.rerank_top_k,
            on_error="fallback",
        )
    if config.memory:
        settings = AgentMemoryConfig(context=False, tool=True, auto_add=False)
        uses["memory"] = memory_for(builder.config, settings, "fallback")
    return uses


_TABLE: list[tuple[str, type[_AdapterConfig], str, str]] = [
    ("pydantic_ai", PydanticAIAgentConfig, "PydanticAIAgent", "a pydantic-ai agent"),
    ("langgraph", LangGraphAgentConfig, "LangGraphAgent", "a compiled LangGraph graph"),
    ("openai_agents", OpenAIAgentsAgentConfig, "OpenAIAgentsAgent", "an OpenAI Agents SDK agent"),
    ("adk", ADKAgentConfig, "ADKAgent", "a Google ADK agent"),
    ("agentscope", AgentScopeAgentConfig, "AgentScopeAgent", "an AgentScope agent"),
]
KINDS = [
    AgentKindSpec(name=kind, config=struct, build=_builder(cls), summary=summary)
    for kind, struct, cls, summary in _TABLE
]
