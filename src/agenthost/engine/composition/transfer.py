"""TransferAgent: a router agent that can hand the rest of the run to another agent.

The router (usually an LLMAgent) is offered one extra tool per target, `transfer_to_<name>`.
The tools are added through the router's host, not to the router itself: the host adds their
specs to every model call the router makes and answers their calls itself, so any agent that
calls models through its host can route, and the tools need no grant. When the router calls
one, its tool call and result are recorded as usual, the router is stopped, and the target
runs on the run's input for the rest of the run; its answer is the run's answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any, ClassVar

from agenthost.core.errors import ConfigError
from agenthost.core.messages import Message
from agenthost.engine.composition._base import ComposedAgent
from agenthost.engine.composition._sub import (
    SubHost,
    SubOutcome,
    input_message,
    prior_history,
    stream_sub,
    total_usage,
)
from agenthost.ports.models import ModelResponse, ModelSettings, StreamEvent, ToolSpec
from agenthost.ports.protocol import Agent, Host, HostAPI, ResultBatch, RunCompleted, RunContext
from agenthost.ports.tools import ToolOutput

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def transfer_tool_name(agent: Agent) -> str:
    """`transfer_to_<name>`, with characters a model API refuses in tool names replaced."""
    return ("transfer_to_" + _UNSAFE.sub("_", agent.manifest.name))[:64]


class TransferAgent(ComposedAgent):
    """`TransferAgent(router, [billing, support])`: the router answers, or transfers.

    Events: the router's with branch `"<name>.<router>"`, then (after a transfer) the
    target's with `"<name>.<target>"`. The target sees the conversation before this run and
    the run's input, not the router's deliberation. A transfer tool's description is the
    target's manifest description.
    """

    kind: ClassVar[str] = "transfer"

    def __init__(
        self,
        router: Any,
        targets: Sequence[Any],
        *,
        name: str = "transfer",
        description: str = "",
    ) -> None:
        if not targets:
            raise ConfigError("TransferAgent needs at least one target agent to transfer to.")
        super().__init__(
            [router, *targets],
            name=name,
            description=description or "A router that may hand the run to another agent.",
        )
        self.router = self.sub_agents[0]
        self.targets: dict[str, Agent] = {}
        for target in self.sub_agents[1:]:
            tool = transfer_tool_name(target)
            if tool in self.targets:
                raise ConfigError(
                    f"TransferAgent {name!r}: two targets make the tool name {tool!r}; give "
                    f"them distinct names."
                )
            self.targets[tool] = target
        self.tool_specs = [
            ToolSpec(
                name=tool,
                description=(
                    f"Hand this conversation over to {agent.manifest.name!r}, which answers "
                    f"from here on. {agent.manifest.description}"
                ).strip(),
                parameters={"type": "object", "properties": {}},
            )
            for tool, agent in self.targets.items()
        ]

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        prior = await prior_history(host)
        history = [*prior, input_message(ctx)]
        routing = _Routing(host, self)
        router_host = routing.host(host, history)
        outcome = SubOutcome(self.router.manifest.name)
        outcomes = [outcome]
        async with aclosing(
            stream_sub(self.router, ctx, router_host, parent=self.name, outcome=outcome)
        ) as routed:
            async for batch in routed:
                yield batch
                if routing.chosen is not None:
                    break  # leaving the block stops the router
        target = routing.chosen
        if target is not None:
            outcome = SubOutcome(target.manifest.name)
            outcomes.append(outcome)
            async for batch in stream_sub(
                target, ctx, SubHost(host, history), parent=self.name, outcome=outcome
            ):
                yield batch
        if outcome.failed:
            yield outcome.failure()
            return
        yield RunCompleted(finish_reason=outcome.finish_reason, usage=total_usage(outcomes))


class _Routing:
    """The router's model and tool capabilities: model calls also offer the transfer tools,
    whose calls are answered here (recording the chosen target)."""

    __slots__ = ("_models", "_owner", "_tools", "chosen")

    def __init__(self, parent: HostAPI, owner: TransferAgent) -> None:
        self._models = parent.models
        self._tools = parent.tools
        self._owner = owner
        self.chosen: Agent | None = None

    def host(self, parent: HostAPI, history: Sequence[Message]) -> Host:
        return Host.of(
            SubHost(parent, history), models=_RouterModels(self), tools=_RouterTools(self)
        )

    def specs(self, tools: Sequence[ToolSpec]) -> list[ToolSpec]:
        return [*tools, *self._owner.tool_specs]


class _RouterModels:
    __slots__ = ("_routing",)

    def __init__(self, routing: _Routing) -> None:
        self._routing = routing

    async def invoke(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        routing = self._routing
        return await routing._models.invoke(
            model_id, messages, tools=routing.specs(tools), settings=settings
        )

    def stream(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        routing = self._routing
        return routing._models.stream(
            model_id, messages, tools=routing.specs(tools), settings=settings
        )


class _RouterTools:
    __slots__ = ("_routing",)

    def __init__(self, routing: _Routing) -> None:
        self._routing = routing

    async def detail(self, tool_name: str) -> ToolSpec:
        routing = self._routing
        for spec in routing._owner.tool_specs:
            if spec.name == tool_name:
                return spec
        return await routing._tools.detail(tool_name)

    async def call(
        self, tool_name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutput:
        routing = self._routing
        target = routing._owner.targets.get(tool_name)
        if target is None:
            return await routing._tools.call(tool_name, arguments, timeout=timeout)
        if routing.chosen is None:
            routing.chosen = target
        return ToolOutput(content=f"Transferred to {routing.chosen.manifest.name!r}.")
