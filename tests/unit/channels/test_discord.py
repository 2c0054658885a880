"""Discord input (Gateway) and output (REST) against a fake Discord on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost import LLMAgent
from agenthost.channels import ChannelRuntime
from agenthost.channels.discord import INTENTS, DiscordInput, DiscordOutput
from agenthost.testing import FunctionModel, ScriptedModel
from tests.unit.channels.conftest import echo_agent
from tests.unit.channels.platform_fakes import FakeDiscord
from tests.unit.channels.test_runtime import FAST_RETRY, running

BOT_MENTION = {"id": "777", "username": "helper", "bot": True}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


def runtime_for(
    fake: FakeDiscord, agent: Any = None, edit_interval: float | None = None, **kw: Any
) -> tuple[ChannelRuntime, DiscordInput]:
    gateway = DiscordInput(name="dc", token=fake.TOKEN, base_url=fake.api_url)
    runtime = ChannelRuntime(
        inputs=[gateway],
        outputs=[
            DiscordOutput(
                name="dc", token=fake.TOKEN, base_url=fake.api_url, edit_interval=edit_interval
            )
        ],
        agent=agent or echo_agent(),
        store="memory://",
        retry=FAST_RETRY,
        handle_signals=False,
        **kw,
    )
    return runtime, gateway


def posted(fake: FakeDiscord) -> list[str]:
    return [m["content"] for m in fake.messages.values()]


async def test_direct_messages_and_mentions_get_replies(fake: FakeDiscord) -> None:
    runtime, gateway = runtime_for(fake)
    async with running(runtime):
        await gateway.ready.wait()
        assert fake.identify is not None and fake.identify["intents"] == INTENTS
        assert fake.identify["token"] == fake.TOKEN
        await fake.dispatch_message("hello", channel="dm-1")  # a DM: no guild_id
        await fake.wait_for(lambda: len(fake.messages) == 1)
        await fake.dispatch_message("talking among us", channel="c-1", guild="g-1")
        await fake.dispatch_message("<@777> me too", channel="c-1", guild="g-1", author=BOT_MENTION)
        await fake.dispatch_message(
            "<@777> what's up?", channel="c-1", guild="g-1", mentions=[BOT_MENTION]
        )
        await fake.wait_for(lambda: len(fake.messages) == 2)
    assert posted(fake) == ["echo: hello", "echo: what's up?"]
    first, second = fake.bodies("create")
    assert first["enforce_nonce"] is True and 0 < len(first["nonce"]) <= 25
    assert first["nonce"] != second["nonce"]
    assert [m["channel_id"] for m in fake.messages.values()] == ["dm-1", "c-1"]
    assert gateway.user["id"] == "777"


async def test_attachments_are_urls(fake: FakeDiscord) -> None:
    seen: list[Any] = []

    def reply(messages: list[Any], tools: Any) -> str:
        seen.append(messages[-1].parts)
        return "nice picture"

    runtime, gateway = runtime_for(fake, LLMAgent(model=FunctionModel(reply)))
    async with running(runtime):
        await gateway.ready.wait()
        await fake.dispatch_message(
            "look",
            channel="dm-1",
            attachments=[
                {
                    "id": "a1",
                    "filename": "cat.png",
                    "size": 2048,
                    "url": "https://cdn.discordapp.com/attachments/1/2/cat.png",
                    "proxy_url": "https://media.discordapp.net/attachments/1/2/cat.png",
                    "content_type": "image/png",
                }
            ],
        )
        await fake.wait_for(lambda: len(fake.messages) == 1)
    text, image = seen[0]
    assert text.text == "look"
    assert (image.url, image.mime_type) == (
        "https://cdn.discordapp.com/attachments/1/2/cat.png",
        "image/png",
    )


async def test_heartbeats_carry_the_last_sequence(fake: FakeDiscord) -> None:
    fake.heartbeat_interval = 20  # ms
    runtime, gateway = runtime_for(fake)
    async with running(runtime):
        await gateway.ready.wait()
        await fake.wait_for(lambda: len(fake.heartbeats) >= 3)
    assert fake.heartbeats[-1] == 1  # READY was sequence 1


async def test_a_429_is_retried_and_a_403_given_up(fake: FakeDiscord) -> None:
    fake.rate_limited("create", retry_after=0.01)
    runtime, gateway = runtime_for(fake)
    async with running(runtime):
        await gateway.ready.wait()
        await fake.dispatch_message("first", channel="dm-1")
        await fake.wait_for(lambda: len(fake.messages) == 1)
        fake.fail("create", 403, {"message": "Missing Access", "code": 50001})
        await fake.dispatch_message("second", channel="dm-2")
        await fake.wait_for(lambda: len(fake.bodies("create")) == 3)
    status = runtime.statuses[("output", "dc")]  # the stop flushed the delivery under way
    assert posted(fake) == ["echo: first"]
    assert (status.retried, status.delivered, status.failed) == (1, 1, 1)
    assert fake.bodies("create")[0]["nonce"] == fake.bodies("create")[1]["nonce"]


async def test_a_streamed_reply_is_edited_in_place(fake: FakeDiscord) -> None:
    agent = LLMAgent(model=ScriptedModel(["Streaming to Discord now"]), stream=True)
    runtime, gateway = runtime_for(fake, agent, edit_interval=0.0)
    async with running(runtime):
        await gateway.ready.wait()
        await fake.dispatch_message("hi", channel="dm-1")
        await fake.wait_for(lambda: posted(fake) == ["Streaming to Discord now"])
    assert runtime.statuses[("output", "dc")].delivered == 1
    assert posted(fake) == ["Streaming to Discord now"]  # one message, edited
    edits = [b["content"] for b in fake.bodies("edit")]
    assert len(edits) >= 2 and edits[-1] == "Streaming to Discord now"


async def test_a_reconnect_request_or_a_missing_ack_identifies_again(fake: FakeDiscord) -> None:
    runtime, gateway = runtime_for(fake, restart_delay=0.001)
    async with running(runtime):
        await gateway.ready.wait()
        await fake.reconnect()  # op 7
        await fake.wait_for(lambda: fake.identifies == 2)
        fake.heartbeat_interval = 20  # ms, for the next connections
        fake.no_ack = {3}  # the next connection is a zombie: its heartbeats go unanswered
        await fake.reconnect()
        await fake.wait_for(lambda: fake.identifies == 4)  # dropped, identified again
        await gateway.ready.wait()
        await fake.dispatch_message("still there?", channel="dm-1")
        await fake.wait_for(lambda: len(fake.messages) == 1)
    assert posted(fake) == ["echo: still there?"]
    assert runtime.statuses[("input", "dc")].restarts >= 3
