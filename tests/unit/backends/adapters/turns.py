"""The two conversations every adapter is checked with, against the fake OpenAI server: one
plain reply (its deltas, usage and stored events), and a tool call whose call and result the
next turn's request carries (the caller checks that request in its framework's shape)."""

from __future__ import annotations

from typing import Any

from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.protocol import Agent
from agenthost.ports.sessions import SessionStore
from agenthost.testing._fake_replies import TextReply
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import deltas, first, kinds


async def check_a_reply_with_usage(
    agent: Agent, srv: FakeOpenAIServer, store: SessionStore
) -> None:
    """`agent` (without tools) streams the model's reply and reports its usage."""
    srv.add(TextReply("Hello there, friend", usage=(7, 3)))
    async with Runner(agent, store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    assert kinds(events) == ["message.received", "message.completed", "run.completed"]
    assert deltas(events) == "Hello there, friend"
    assert final_text(events) == "Hello there, friend"
    done = first(events, "message.completed")
    assert done.usage is not None and (done.usage.input_tokens, done.usage.output_tokens) == (7, 3)
    assert srv.bodies[0]["stream"] is True


async def next_turn_messages(
    agent: Agent, srv: FakeOpenAIServer, store: SessionStore
) -> list[dict[str, Any]]:
    """The messages the model is sent in a second turn, after a first ("weather?") in which
    `agent` (with a get_weather tool) called the tool and answered."""
    async with Runner(agent, store=store, app="t") as runner:
        await collect(runner.run("u1", "s1", "weather?"))
        srv.add(TextReply("second answer"))
        events = await collect(runner.run("u1", "s1", "and tomorrow?"))
    assert final_text(events) == "second answer"
    messages: list[dict[str, Any]] = srv.bodies[-1]["messages"]
    return messages


def check_plain_chat_history(sent: list[dict[str, Any]]) -> None:
    """`next_turn_messages` as plain Chat Completions messages (the system prompt, text
    contents, the tool's result as it returned it)."""
    roles = [m["role"] for m in sent]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["content"] == "weather?"
    assert sent[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[3]["content"] == "sunny in fake"
    assert sent[4]["content"] == "Done: sunny in fake"
    assert sent[5]["content"] == "and tomorrow?"
