"""Slack input (Events API over HTTP) and output (Web API) against a fake Slack on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost import LLMAgent
from agenthost.channels import ChannelRuntime
from agenthost.channels.slack import SlackInput, SlackOutput
from agenthost.core.errors import DeliveryFailed
from agenthost.testing import FunctionModel, ScriptedModel
from tests.unit.channels.conftest import echo_agent
from tests.unit.channels.platform_fakes import FakeSlack
from tests.unit.channels.test_runtime import FAST_RETRY, running
from tests.unit.channels.test_telegram import delivery


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


def runtime_for(
    fake: FakeSlack, agent: Any = None, edit_interval: float | None = None, **kw: Any
) -> tuple[ChannelRuntime, SlackInput]:
    events = SlackInput(
        name="sl",
        token=fake.TOKEN,
        signing_secret=fake.SIGNING_SECRET,
        base_url=fake.api_url,
        port=0,
        **kw,
    )
    runtime = ChannelRuntime(
        inputs=[events],
        outputs=[
            SlackOutput(
                name="sl", token=fake.TOKEN, base_url=fake.api_url, edit_interval=edit_interval
            )
        ],
        agent=agent or echo_agent(),
        store="memory://",
        retry=FAST_RETRY,
        handle_signals=False,
    )
    return runtime, events


def url(events: SlackInput) -> str:
    return f"http://127.0.0.1:{events.port}{events.path}"


def posted(fake: FakeSlack) -> list[tuple[str, str]]:
    return [(b["channel"], b["text"]) for b in fake.bodies("chat.postMessage")]


def mention(text: str, ts: str, channel: str = "C1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": "U42",
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **extra,
    }


def message(text: str, ts: str, channel: str, channel_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "user": "U42",
        "text": text,
        "ts": ts,
        "channel": channel,
        "channel_type": channel_type,
        "event_ts": ts,
        **extra,
    }


async def test_verification_signatures_mentions_and_direct_messages(fake: FakeSlack) -> None:
    runtime, events = runtime_for(fake)
    async with running(runtime):
        await events.listening.wait()
        status, body = await fake.deliver(
            url(events),
            {"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595", "type": "url_verification"},
        )
        assert (status, body) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV2595"})
        status, _ = await fake.deliver(
            url(events), fake.event_callback(mention("<@U0BOT> hi", "1.1")), secret="wrong"
        )
        assert status == 401
        ok = [
            mention("<@U0BOT> hi there", "1.2"),
            message("<@U0BOT> hi there", "1.2", "C1", "channel"),  # the same, as a message
            message("no mention here", "1.3", "C1", "channel"),
            message("from a bot", "1.4", "D1", "im", bot_id="B9"),
            message("edited", "1.5", "D1", "im", subtype="message_changed"),
            message("privately", "1.6", "D1", "im"),
        ]
        for event in ok:
            status, _ = await fake.deliver(url(events), fake.event_callback(event))
            assert status == 200
        await fake.wait_for(lambda: len(posted(fake)) == 2)
    assert sorted(posted(fake)) == [("C1", "echo: hi there"), ("D1", "echo: privately")]
    assert runtime.statuses[("input", "sl")].received == 2
    assert fake.bodies("auth.test") == [{}]


async def test_without_require_mention_channel_messages_are_taken(fake: FakeSlack) -> None:
    runtime, events = runtime_for(fake, require_mention=False)
    async with running(runtime):
        await events.listening.wait()
        await fake.deliver(url(events), fake.event_callback(mention("<@U0BOT> one", "2.1")))
        await fake.deliver(
            url(events), fake.event_callback(message("<@U0BOT> one", "2.1", "C1", "channel"))
        )
        await fake.deliver(url(events), fake.event_callback(message("two", "2.2", "C1", "channel")))
        await fake.wait_for(lambda: len(posted(fake)) == 2)
    assert posted(fake) == [("C1", "echo: one"), ("C1", "echo: two")]
    assert runtime.statuses[("input", "sl")].duplicates == 1


async def test_shared_files_are_downloaded_with_the_token(fake: FakeSlack) -> None:
    seen: list[Any] = []

    def reply(messages: list[Any], tools: Any) -> str:
        seen.append(messages[-1].parts)
        return "read"

    fake.files["notes.txt"] = b"remember the milk"
    runtime, events = runtime_for(fake, LLMAgent(model=FunctionModel(reply)))
    async with running(runtime):
        await events.listening.wait()
        event = message(
            "see attached",
            "3.1",
            "D1",
            "im",
            subtype="file_share",
            files=[
                {
                    "id": "F1",
                    "name": "notes.txt",
                    "mimetype": "text/plain",
                    "size": 17,
                    "url_private": f"{fake.url}/files-pri/notes.txt",
                }
            ],
        )
        await fake.deliver(url(events), fake.event_callback(event))
        await fake.wait_for(lambda: len(posted(fake)) == 1)
    text, document = seen[0]
    assert text.text == "see attached"
    assert (document.data, document.mime_type, document.name) == (
        b"remember the milk",
        "text/plain",
        "notes.txt",
    )


async def test_rate_limits_are_retried_and_unknown_channels_given_up(fake: FakeSlack) -> None:
    out = SlackOutput(token=fake.TOKEN, base_url=fake.api_url)
    fake.rate_limited("chat.postMessage", seconds=30)
    fake.fail("chat.postMessage", 200, {"ok": False, "error": "internal_error"})
    try:
        with pytest.raises(DeliveryFailed) as limited:
            await out.send(delivery("a", target="C1"))
        assert limited.value.retryable and limited.value.retry_after == 30.0
        with pytest.raises(DeliveryFailed) as internal:
            await out.send(delivery("b", target="C1"))
        assert internal.value.retryable
        with pytest.raises(DeliveryFailed, match="channel_not_found") as missing:
            await out.send(delivery("c", target="nowhere"))
        assert not missing.value.retryable
        await out.send(delivery("d", target="C1"))
        assert list(fake.messages.values()) == ["d"]
    finally:
        await out.stop()


async def test_a_429_through_the_runtime(fake: FakeSlack) -> None:
    fake.rate_limited("chat.postMessage", seconds=0)
    runtime, events = runtime_for(fake)
    async with running(runtime):
        await events.listening.wait()
        await fake.deliver(url(events), fake.event_callback(message("hi", "4.1", "D1", "im")))
        await fake.wait_for(lambda: len(fake.messages) == 1)
    assert len(posted(fake)) == 2  # refused once, then posted
    status = runtime.statuses[("output", "sl")]
    assert (status.retried, status.delivered) == (1, 1)


async def test_a_streamed_reply_is_updated_in_place(fake: FakeSlack) -> None:
    agent = LLMAgent(model=ScriptedModel(["Streaming into Slack"]), stream=True)
    runtime, events = runtime_for(fake, agent, edit_interval=0.0)
    async with running(runtime):
        await events.listening.wait()
        await fake.deliver(url(events), fake.event_callback(message("hi", "5.1", "D1", "im")))
        await fake.wait_for(lambda: list(fake.messages.values()) == ["Streaming into Slack"])
    assert posted(fake) == [("D1", "…")]  # one message, updated
    updates = [b["text"] for b in fake.bodies("chat.update")]
    assert len(updates) >= 2 and updates[-1] == "Streaming into Slack"
    assert runtime.statuses[("output", "sl")].delivered == 1
