"""agent_tool: an agent as a tool another agent can call.

The tool runs its agent as a sub-run of the run that calls it (found through
`engine.host.current_run`, which the run host's `tools.call` sets): the same run id, grants and
deadline, the same host, so the agent reaches only what the run was granted. The agent sees
only the tool's `input` as its conversation. Its events are not added to the run (they would
sit between the caller's tool call and its result); the tool result is the agent's final
answer, or an error naming its failure. State it sets through the host, or with
`state.updated` results, is kept. Its model usage is not added to the run's usage.
"""

from __future__ import annotations

from typing import Any

from agenthost.core.errors import ToolError
from agenthost.core.messages import Message
from agenthost.engine.catalog import Catalog, resources_for
from agenthost.engine.composition._sub import SubHost, SubOutcome, derive_context, stream_sub
from agenthost.engine.host import current_run
from agenthost.ports.models import ToolSpec
from agenthost.ports.protocol import Agent, Resources, StateUpdated
from agenthost.ports.tools import ToolOutput


class AgentTool:
    """A Tool that runs an agent on `{"input": "..."}` (see `agent_tool`)."""

    def __init__(self, agent: Agent, *, name: str, description: str) -> None:
        self.agent = agent
        self._spec = ToolSpec(
            name=name,
            description=description,
            parameters={
                "type": "object",
                "properties": {"input": {"type": "string", "description": f"What to ask {name}."}},
                "required": ["input"],
            },
        )

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    # what the agent needs: the catalogue and runner add these (see engine.catalog)
    def catalog(self) -> Catalog:
        own = getattr(self.agent, "catalog", None)
        return own() if callable(own) else Catalog()

    def resources(self) -> Resources:
        return resources_for(self.agent, self.catalog())

    async def __aenter__(self) -> AgentTool:
        enter = getattr(self.agent, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        close = getattr(self.agent, "aclose", None)
        if close is not None:
            await close()

    async def call(self, arguments: dict[str, Any]) -> ToolOutput:
        text = arguments.get("input")
        if not isinstance(text, str):
            raise ToolError(
                f"Tool {self._spec.name!r} needs a string argument 'input'.",
                tool_name=self._spec.name,
            )
        found = current_run()
        if found is None:
            raise ToolError(
                f"Tool {self._spec.name!r} runs an agent and can only be called during a run "
                f"(through the run's host).",
                tool_name=self._spec.name,
            )
        host, ctx = found
        message = Message.user(text)
        outcome = SubOutcome(self.agent.manifest.name)
        async for batch in stream_sub(
            self.agent,
            derive_context(ctx, message),
            SubHost(host, [message]),
            parent=self._spec.name,
            outcome=outcome,
        ):
            for result in batch if isinstance(batch, list) else (batch,):
                if type(result) is StateUpdated:
                    await host.state.set(result.scope, result.key, result.value)
        if outcome.error is not None:
            return ToolOutput(
                content=f"error: agent {outcome.name!r} failed ({outcome.error.code}): "
                f"{outcome.error.message}",
                is_error=True,
            )
        return ToolOutput(content=outcome.text)


def agent_tool(agent: Agent, name: str | None = None, description: str | None = None) -> AgentTool:
    """A tool that asks `agent`: `LLMAgent(..., tools=[agent_tool(researcher, "research",
    "Finds facts on the web")])`. Name and description default to the agent's manifest's."""
    manifest = agent.manifest
    return AgentTool(
        agent, name=name or manifest.name, description=description or manifest.description
    )
