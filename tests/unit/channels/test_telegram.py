"""Telegram input and output against a fake Bot API on 127.0.0.1 (platform_fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost import LLMAgent
from agenthost.channels import ChannelRuntime
from agenthost.channels.telegram import TelegramInput, TelegramOutput
from agenthost.core.errors import ConfigError, DeliveryFailed
from agenthost.ports.channels import Delivery, OutboxItem
from agenthost.testing import FunctionModel, ScriptedModel
from tests.unit.channels.conftest import echo_agent
from tests.unit.channels.platform_fakes import FakeTelegram
from tests.unit.channels.test_runtime import FAST_RETRY, running

PRIVATE = {"id": 42, "type": "private", "first_name": "Ann"}
GROUP = {"id": -100123, "type": "supergroup", "title": "Team"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


def runtime_for(
    fake: FakeTelegram, agent: Any = None, edit_interval: float | None = None
) -> ChannelRuntime:
    return ChannelRuntime(
        inputs=[TelegramInput(name="tg", token=fake.TOKEN, base_url=fake.url, poll_timeout=5)],
        outputs=[
            TelegramOutput(
                name="tg", token=fake.TOKEN, base_url=fake.url, edit_interval=edit_interval
            )
        ],
        agent=agent or echo_agent(),
        store="memory://",
        retry=FAST_RETRY,
        handle_signals=False,
    )


def sent(fake: FakeTelegram) -> list[tuple[Any, str]]:
    return [(b["chat_id"], b["text"]) for b in fake.bodies("sendMessage")]


async def test_private_messages_and_mentions_in_groups_get_replies(fake: FakeTelegram) -> None:
    runtime = runtime_for(fake)
    async with running(runtime):
        await fake.user_message(PRIVATE, "hello")
        await fake.wait_for(lambda: len(sent(fake)) == 1)
        await fake.user_message(GROUP, "just chatting")  # no mention: not for the bot
        bot_message = {"from": {"id": 999, "is_bot": True, "first_name": "Helper"}}
        await fake.user_message(GROUP, "@helper_bot echo", **bot_message)  # its own
        await fake.user_message(GROUP, "@helper_bot what time is it?")
        await fake.wait_for(lambda: len(sent(fake)) == 2)
        await fake.user_message(
            GROUP, "and now?", reply_to_message={"message_id": 1, "from": FakeTelegram.BOT}
        )
        await fake.wait_for(lambda: len(sent(fake)) == 3)
        # each poll confirms the updates before it: offset = last update_id + 1
        await fake.wait_for(lambda: fake.bodies("getUpdates")[-1].get("offset") == 6)
    assert sent(fake) == [
        ("42", "echo: hello"),
        ("-100123", "echo: what time is it?"),
        ("-100123", "echo: and now?"),
    ]
    polls = fake.bodies("getUpdates")
    assert polls[0]["allowed_updates"] == ["message"] and "offset" not in polls[0]
    offsets = [p["offset"] for p in polls[1:]]
    assert offsets == sorted(offsets) and offsets[0] == 2
    assert runtime.statuses[("input", "tg")].received == 3


async def test_documents_and_photos_become_message_parts(fake: FakeTelegram) -> None:
    seen: list[Any] = []

    def reply(messages: list[Any], tools: Any) -> str:
        seen.append(messages[-1].parts)
        return "got it"

    fake.files["doc-1"] = b"%PDF-1.4 tiny"
    fake.files["photo-big"] = b"\x89PNG big"
    runtime = runtime_for(fake, LLMAgent(model=FunctionModel(reply)))
    async with running(runtime):
        await fake.user_message(
            PRIVATE,
            None,
            caption="read this",
            document={
                "file_id": "doc-1",
                "file_unique_id": "d1",
                "file_name": "a.pdf",
                "mime_type": "application/pdf",
                "file_size": 13,
            },
        )
        await fake.wait_for(lambda: len(sent(fake)) == 1)
        await fake.user_message(
            PRIVATE,
            None,
            photo=[
                {"file_id": "photo-small", "file_unique_id": "p1", "width": 90, "height": 90},
                {"file_id": "photo-big", "file_unique_id": "p2", "width": 800, "height": 800},
            ],
        )
        await fake.wait_for(lambda: len(sent(fake)) == 2)
    text, document = seen[0]
    assert text.text == "read this"
    assert (document.data, document.mime_type, document.name) == (
        b"%PDF-1.4 tiny",
        "application/pdf",
        "a.pdf",
    )
    (photo,) = seen[1]
    assert (photo.data, photo.mime_type) == (b"\x89PNG big", "image/jpeg")
    assert [b["file_id"] for b in fake.bodies("getFile")] == ["doc-1", "photo-big"]


async def test_a_429_is_retried_after_its_retry_after(fake: FakeTelegram) -> None:
    fake.fail(
        "sendMessage",
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 0",
            "parameters": {"retry_after": 0},
        },
    )
    runtime = runtime_for(fake)
    async with running(runtime):
        await fake.user_message(PRIVATE, "hi")
        await fake.wait_for(lambda: len(fake.messages) == 1)
    assert len(fake.bodies("sendMessage")) == 2  # refused once, then sent
    status = runtime.statuses[("output", "tg")]
    assert (status.retried, status.delivered, status.failed) == (1, 1, 0)


def delivery(text: str, target: str = "42", meta: dict[str, Any] | None = None) -> Delivery:
    item = OutboxItem(
        output="tg", target=target, text=text, inbound_key=("tg", target, "1"), meta=meta or {}
    )
    return Delivery(id=1, key="k" * 32, item=item)


async def test_errors_say_whether_to_retry(fake: FakeTelegram) -> None:
    out = TelegramOutput(token=fake.TOKEN, base_url=fake.url)
    fake.fail(
        "sendMessage",
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    fake.fail(
        "sendMessage",
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    fake.fail("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    try:
        with pytest.raises(DeliveryFailed) as limited:
            await out.send(delivery("a"))
        assert limited.value.retryable and limited.value.retry_after == 7.0
        with pytest.raises(DeliveryFailed, match="blocked by the user") as blocked:
            await out.send(delivery("b"))
        assert not blocked.value.retryable
        assert FakeTelegram.TOKEN not in str(blocked.value)  # the token never shows
        with pytest.raises(DeliveryFailed) as bad_gateway:
            await out.send(delivery("c"))
        assert bad_gateway.value.retryable
        wrong = TelegramOutput(token="1:wrong", base_url=fake.url)
        with pytest.raises(DeliveryFailed, match="401") as unauthorized:
            await wrong.send(delivery("d"))
        assert not unauthorized.value.retryable
        await wrong.stop()
    finally:
        await out.stop()


async def test_a_streamed_reply_is_edited_in_place(fake: FakeTelegram) -> None:
    agent = LLMAgent(model=ScriptedModel(["Hello there, my friend"]), stream=True)
    runtime = runtime_for(fake, agent, edit_interval=0.0)
    async with running(runtime):
        await fake.user_message(PRIVATE, "hi")
        await fake.wait_for(lambda: "Hello there, my friend" in fake.messages.values())
    assert runtime.statuses[("output", "tg")].delivered == 1
    assert [b["text"] for b in fake.bodies("sendMessage")] == ["…"]  # one message, edited
    edits = [b["text"] for b in fake.bodies("editMessageText")]
    assert len(edits) >= 2 and edits[-1] == "Hello there, my friend"
    assert fake.bodies("sendChatAction") == [{"chat_id": "42", "action": "typing"}]
    assert list(fake.messages.values()) == ["Hello there, my friend"]


async def test_a_refused_typing_indicator_does_not_cost_the_stream(fake: FakeTelegram) -> None:
    for _ in range(100):  # a server without sendChatAction refuses it every time
        fake.fail(
            "sendChatAction",
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: method not supported"},
        )
    agent = LLMAgent(model=ScriptedModel(["Hello there, my friend"]), stream=True)
    runtime = runtime_for(fake, agent, edit_interval=0.0)
    async with running(runtime):
        await fake.user_message(PRIVATE, "hi")
        await fake.wait_for(lambda: "Hello there, my friend" in fake.messages.values())
    assert [b["text"] for b in fake.bodies("sendMessage")] == ["…"]  # still edited in place
    assert fake.bodies("editMessageText")[-1]["text"] == "Hello there, my friend"
    assert len(fake.bodies("sendChatAction")) == 1


async def test_webhook_mode_checks_the_secret_token(fake: FakeTelegram) -> None:
    hook = TelegramInput(
        name="tg",
        token=fake.TOKEN,
        base_url=fake.url,
        webhook_url="https://bot.example.com/telegram",
        webhook_secret="s3cr3t_token-1",
        port=0,
    )
    runtime = ChannelRuntime(
        inputs=[hook],
        outputs=[
            TelegramOutput(name="tg", token=fake.TOKEN, base_url=fake.url, edit_interval=None)
        ],
        agent=echo_agent(),
        store="memory://",
        retry=FAST_RETRY,
        handle_signals=False,
    )
    async with running(runtime):
        await hook.polling.wait()
        assert fake.webhook == {
            "url": "https://bot.example.com/telegram",
            "secret_token": "s3cr3t_token-1",
            "allowed_updates": ["message"],
        }
        fake.webhook["url"] = f"http://127.0.0.1:{hook.port}/telegram"  # what the proxy does
        update = await fake.user_message(PRIVATE, "over the webhook")
        assert await fake.push(update, secret="wrong") == 401
        assert await fake.push(update) == 200
        assert await fake.push(update) == 200  # Telegram retrying: a duplicate, run once
        await fake.wait_for(lambda: len(sent(fake)) == 1)
    assert sent(fake) == [("42", "echo: over the webhook")]
    assert fake.bodies("getUpdates") == []
    assert runtime.statuses[("input", "tg")].duplicates == 1


def test_a_webhook_needs_a_valid_secret() -> None:
    with pytest.raises(ConfigError, match="webhook needs a secret"):
        TelegramInput(token="1:a", webhook_url="https://x.example/t", webhook_secret="no spaces")


async def test_an_unreachable_server_is_retried_and_the_token_never_shows() -> None:
    async with FakeTelegram() as gone:
        url = gone.url  # a port that answered a moment ago and now is closed
    out = TelegramOutput(token=FakeTelegram.TOKEN, base_url=url)
    try:
        with pytest.raises(DeliveryFailed) as failed:
            await out.send(delivery("hello"))
    finally:
        await out.stop()
    assert failed.value.retryable
    assert FakeTelegram.TOKEN not in str(failed.value) and "/bot***/sendMessage" in str(
        failed.value
    )
