"""The agenthost side of every workload: Runner + LLMAgent + OpenAICompatibleModel.

The agent has one async tool whose wire schema is exactly `bare_loops.TOOLS` (checked), no
instructions (no system message, like the bare loop) and no model settings, so it sends the
same request bodies as the bare loop: `model`, `messages`, `tools` (plus `stream` and
`stream_options` when streaming, as the streamed bare loop does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from agenthost.backends.models._wire import encode_tool
from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.backends.models.providers import Provider
from agenthost.backends.sessions import open_session_store
from agenthost.core.messages import Message, ToolResultPart
from agenthost.engine.function_tool import FunctionTool
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from benchmarks.bare_loops import ANSWER, MODEL, TOOL_RESULT, TOOLS, USER_TEXT

if TYPE_CHECKING:  # not at run time: benchmarks.server runs this module over older sources too
    from agenthost.backends.common.transport import TransportKind


async def search(query: str) -> str:
    """Search the web."""
    return TOOL_RESULT


SEARCH = FunctionTool(search)
if encode_tool(SEARCH.spec) != TOOLS:  # the two sides must send the same tool schema
    raise RuntimeError(f"tool schemas differ: {encode_tool(SEARCH.spec)} != {TOOLS}")

# what one turn stores/yields: user message, tool call, tool started/completed, answer, end
EXPECTED_TYPES = (
    "message.received",
    "message.completed",
    "tool.call.started",
    "tool.call.completed",
    "message.completed",
    "run.completed",
)


def make_model(base_url: str, transport: TransportKind = "auto") -> OpenAICompatibleModel:
    provider = Provider("openai", base_url=base_url, api_key="sk-bench", transport=transport)
    return OpenAICompatibleModel(MODEL, provider=provider)


async def model_turn(model: OpenAICompatibleModel) -> str:
    """The bare loop's turn with agenthost's model client and tool, and nothing else (no
    runner, agent, events or store): what the model layer alone costs."""
    messages = [Message.user(USER_TEXT)]
    tools = [SEARCH.spec]
    response = await model.request(messages, tools=tools)
    messages.append(response.message)
    for call in response.message.tool_calls:
        output = await SEARCH.call(call.parsed_arguments())
        result = ToolResultPart(tool_call_id=call.id, name=call.name, content=str(output))
        messages.append(Message.tool(result))
    answer = await model.request(messages, tools=tools)
    return answer.message.text


@asynccontextmanager
async def open_runner(
    base_url: str, store_url: str, *, stream: bool, transport: TransportKind = "auto"
) -> AsyncIterator[Runner]:
    """A Runner over a fresh store and a model client (both closed on exit)."""
    model = make_model(base_url, transport)
    agent = LLMAgent(model=model, tools=[SEARCH], stream=stream)
    async with (
        model,  # a model passed as an object is the caller's to open and close
        open_session_store(store_url) as store,
        Runner(agent, store=store) as runner,
    ):
        yield runner


async def agent_turn(runner: Runner, user_id: str = "bench", session_id: str | None = None) -> str:
    """One turn; returns the session id. Fails loudly if the turn did not go as planned."""
    types: list[str] = []
    text = ""
    sid = ""
    async for event in runner.run(user_id, session_id, USER_TEXT):
        if event.partial:
            continue
        types.append(event.type)
        sid = event.session_id
        if event.type == "message.completed" and event.message is not None:
            text = event.message.text
    if tuple(types) != EXPECTED_TYPES or text != ANSWER:
        raise RuntimeError(f"unexpected agent turn: events {types}, answer {text!r}")
    return sid
