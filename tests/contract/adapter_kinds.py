"""Harnesses for the framework adapters in the agent-kind contract suite.

Each adapter runs the real framework (pydantic-ai, LangGraph, the OpenAI Agents SDK, ADK,
AgentScope) with its own OpenAI-compatible model client against the fake upstream, which
speaks the OpenAI chat-completions stream (the `llm` kind's script). The framework's own
retries are off (`max_retries=0`): a busy model is the framework's to retry, and the adapter's
part is to report it as a retryable failure; `idle_timeout` is the model client's timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agenthost.backends.adapters import (
    ADKAgent,
    AgentScopeAgent,
    LangGraphAgent,
    OpenAIAgentsAgent,
    PydanticAIAgent,
)
from agenthost.ports.protocol import Agent
from tests.unit.backends.agents.fake_platform import FakePlatform, Recorded

from .agent_kinds import LLMKind, get_weather

NOT_RETRIED = (
    "the framework's model client retries a busy model itself (off here); the adapter reports "
    "it as a retryable failure (busy_reported)"
)
NO_STOP_API = "a model call has no stop API (closing the connection cancels)"


@dataclass
class AdapterKind(LLMKind):
    """The OpenAI script of the `llm` kind, served to a framework's model client."""

    closers: list[Any] = field(default_factory=list)  # async close() of each client made
    timeout_code: str = "adapter.model_timeout"

    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        options.pop("retries", None)
        timeout = options.pop("idle_timeout", None) or 60.0
        assert not options, options
        return self.build(fake.base_url + "/v1", timeout)

    def build(self, base_url: str, timeout: float) -> Agent:
        raise NotImplementedError

    def openai_client(self, base_url: str, timeout: float) -> Any:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=timeout)
        self.closers.append(client.close)
        return client

    async def aclose(self) -> None:
        while self.closers:
            await self.closers.pop()()

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        said = [_text(m["content"]) for m in second.body["messages"] if m["role"] != "system"]
        assert said == ["hi", "Hello", "again"]


def _text(content: Any) -> str:
    """A message's text: a string, or OpenAI content parts."""
    if isinstance(content, list):
        return "".join(part["text"] for part in content if part.get("type") == "text")
    return str(content)


@dataclass
class PydanticAIKind(AdapterKind):
    def build(self, base_url: str, timeout: float) -> Agent:
        from pydantic_ai import Agent as PAgent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        provider = OpenAIProvider(openai_client=self.openai_client(base_url, timeout))
        agent = PAgent(OpenAIChatModel("m", provider=provider), name="weather", retries=0)
        agent.tool_plain(get_weather)
        return PydanticAIAgent(agent)


@dataclass
class LangGraphKind(AdapterKind):
    def build(self, base_url: str, timeout: float) -> Agent:
        from langchain_core.tools import tool
        from langchain_openai import ChatOpenAI
        from langgraph.graph import START, MessagesState, StateGraph
        from langgraph.prebuilt import ToolNode, tools_condition

        llm = ChatOpenAI(
            model="m",
            base_url=base_url,
            api_key="sk-test",  # type: ignore[arg-type]
            streaming=True,
            stream_usage=True,
            max_retries=0,
            timeout=timeout,
        )
        self.closers.append(llm.root_async_client.close)  # type: ignore[union-attr]
        weather = tool(get_weather)
        model = llm.bind_tools([weather])

        async def call_model(state: MessagesState) -> dict[str, Any]:
            return {"messages": [await model.ainvoke(state["messages"])]}

        builder = StateGraph(MessagesState)
        builder.add_node("agent", call_model)
        builder.add_node("tools", ToolNode([weather]))
        builder.add_edge(START, "agent")
        builder.add_conditional_edges("agent", tools_condition)
        builder.add_edge("tools", "agent")
        return LangGraphAgent(builder.compile(name="weather"))


@dataclass
class OpenAIAgentsKind(AdapterKind):
    def build(self, base_url: str, timeout: float) -> Agent:
        from agents import Agent as SDKAgent
        from agents import ModelSettings, OpenAIChatCompletionsModel, RunConfig, function_tool

        model = OpenAIChatCompletionsModel(
            model="m", openai_client=self.openai_client(base_url, timeout)
        )
        sdk_agent = SDKAgent(
            name="weather",
            model=model,
            model_settings=ModelSettings(include_usage=True),
            tools=[function_tool(get_weather)],
        )
        return OpenAIAgentsAgent(sdk_agent, run_config=RunConfig(tracing_disabled=True))


@dataclass
class ADKKind(AdapterKind):
    def build(self, base_url: str, timeout: float) -> Agent:
        from google.adk.agents import LlmAgent
        from google.adk.models import OpenAILlm

        client = self.openai_client(base_url, timeout)
        adk_agent = LlmAgent(
            name="weather", model=OpenAILlm(model="m", client=client), tools=[get_weather]
        )
        return ADKAgent(adk_agent)


@dataclass
class AgentScopeKind(AdapterKind):
    def build(self, base_url: str, timeout: float) -> Agent:
        from agentscope.agent import Agent as ScopeAgent
        from agentscope.agent import InjectionConfig
        from agentscope.credential import OpenAICredential
        from agentscope.model import OpenAIChatModel
        from agentscope.permission import PermissionContext, PermissionMode
        from agentscope.state import AgentState
        from agentscope.tool import FunctionTool, Toolkit

        model = OpenAIChatModel(
            credential=OpenAICredential(api_key="sk-test", base_url=base_url),
            model="m",
            max_retries=0,
            client_kwargs={"max_retries": 0, "timeout": timeout},
        )
        self.closers.append(model.client.close)
        scope_agent = ScopeAgent(
            name="weather",
            system_prompt="Be brief.",
            model=model,
            toolkit=Toolkit(tools=[FunctionTool(get_weather)]),
            state=AgentState(permission_context=PermissionContext(mode=PermissionMode.BYPASS)),
            injection_config=InjectionConfig(inject_runtime_state=False),
        )
        return AgentScopeAgent(scope_agent)


def _adapter(cls: type[AdapterKind], name: str, **known_gaps: str) -> AdapterKind:
    reasons = {"busy_retried": NOT_RETRIED, "stop_refused": NO_STOP_API}
    return cls(name, "/v1/chat/completions", not_applicable=reasons, known_gaps=known_gaps)


ADAPTER_KINDS: list[AdapterKind] = [
    _adapter(PydanticAIKind, "pydantic_ai"),
    _adapter(LangGraphKind, "langgraph"),
    _adapter(OpenAIAgentsKind, "openai_agents"),
    _adapter(ADKKind, "adk"),
    _adapter(AgentScopeKind, "agentscope"),
]
