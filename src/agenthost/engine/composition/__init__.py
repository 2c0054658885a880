"""Composition: agents made of agents.

- `ChainAgent([a, b, c])`: in sequence, each answer the next one's input;
- `ParallelAgent([a, b])`: concurrently on the same input, answers combined;
- `LoopAgent(a, max_iterations=3, until=...)`: again and again until a condition holds;
- `TransferAgent(router, [a, b])`: the router answers or hands the run to a target;
- `agent_tool(a, "name", "description")`: an agent as a tool another agent calls.

They use only agent protocol v1, so any agent kind composes: LLMAgent, platform agents,
plugin agents, other composed agents. Sub-agents run inside the composed agent's run: same
run id, grants, deadline and host (see `_sub.py`), and in its task tree, so cancelling the
run or passing its deadline cancels every sub-agent. Each sub-agent's events carry its name
as `author` and its path as `branch` ("pipeline.writer"). A composed agent's default
resources are the union of its sub-agents' (`engine.catalog.resources_for`).
"""

from agenthost.engine.composition._sub import SubHost, derive_context
from agenthost.engine.composition.agent_tool import AgentTool, agent_tool
from agenthost.engine.composition.chain import ChainAgent
from agenthost.engine.composition.loop import LoopAgent
from agenthost.engine.composition.parallel import BranchResult, ParallelAgent, combine_sections
from agenthost.engine.composition.transfer import TransferAgent, transfer_tool_name

__all__ = [
    "AgentTool",
    "BranchResult",
    "ChainAgent",
    "LoopAgent",
    "ParallelAgent",
    "SubHost",
    "TransferAgent",
    "agent_tool",
    "combine_sections",
    "derive_context",
    "transfer_tool_name",
]
