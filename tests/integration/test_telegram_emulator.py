"""The Telegram input and output against telegram-test-api (npm, tests/js: `npm ci --prefix
tests/js`), a maintained emulator of the Telegram Bot API, run by node on 127.0.0.1. A user
message goes in through the emulator's client API; the bot's replies are read back from it.
Skipped, loudly, only when node is missing and CI is not set."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agenthost import LLMAgent
from agenthost.channels import ChannelRuntime
from agenthost.channels.telegram import TelegramInput, TelegramOutput
from agenthost.testing import FunctionModel, ScriptedModel
from tests.unit.channels.test_runtime import FAST_RETRY, running

from .net import free_port

pytestmark = pytest.mark.integration

JS = Path(__file__).resolve().parents[1] / "js"
EMULATOR = JS / "telegram_emulator.mjs"
TOKEN = "123456:emulated-token"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing in CI: install Node.js to run the Telegram emulator tests")
        pytest.skip("NODE IS MISSING: the telegram-test-api (Telegram emulator) tests did not run")
    if not (JS / "node_modules" / "telegram-test-api").is_dir():
        pytest.fail(f"telegram-test-api is not installed: run `npm ci --prefix {JS}`")
    return found


class Emulator:
    """telegram-test-api as a subprocess (tests/js/telegram_emulator.mjs) and its client API:
    a user writes to the bot; the bot's messages are read back. The script prints a line once
    it listens and one per message the bot sends or edits: the test waits on those lines."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.session = aiohttp.ClientSession()

    async def line(self) -> str:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            pytest.fail(f"telegram-test-api exited ({await self.process.wait()})")
        return line.decode().strip()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.session.post(self.url + path, json=body) as response:
            assert response.status == 200, await response.text()
            return (await response.json())["result"]

    async def say(self, text: str, chat: dict[str, Any], user_id: int = 7) -> None:
        """What the emulator's TelegramClient.makeMessage + sendMessage send."""
        sender = {"id": user_id, "first_name": "Ann", "username": "ann", "is_bot": False}
        message = {"botToken": TOKEN, "date": 1, "from": sender, "chat": chat, "text": text}
        await self.post("/sendMessage", message)

    async def bot_messages(self) -> list[dict[str, Any]]:
        """Every message the bot sent, as last edited (the emulator keeps them by token)."""
        history = await self.post("/getUpdatesHistory", {"token": TOKEN})
        # an edit is merged into the stored sendMessage body, which then has a message_id
        return [
            {
                "chat_id": str(u["message"]["chat_id"]),
                "text": u["message"]["text"],
                "edited": "message_id" in u["message"],
            }
            for u in history
            if "chat_id" in u.get("message", {})
        ]

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
        """The bot's messages once `predicate` holds for them (30 s at most)."""

        async def changes() -> list[Any]:
            while not predicate(messages := await self.bot_messages()):
                await self.line()  # the next message or edit of the bot
            return messages

        return await asyncio.wait_for(changes(), 30)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """The emulator on a free port of 127.0.0.1, once it says it listens."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        node(),
        str(EMULATOR),
        env={**os.environ, "PORT": str(port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    emulator = Emulator(process, f"http://127.0.0.1:{port}")
    try:
        assert "listening" in await asyncio.wait_for(emulator.line(), 60)
        yield emulator
    finally:
        await emulator.session.close()
        if process.returncode is None:
            process.terminate()
        await process.wait()


def runtime_for(url: str, agent: LLMAgent, edit_interval: float | None) -> ChannelRuntime:
    return ChannelRuntime(
        inputs=[TelegramInput(name="tg", token=TOKEN, base_url=url, poll_timeout=5)],
        outputs=[TelegramOutput(name="tg", token=TOKEN, base_url=url, edit_interval=edit_interval)],
        agent=agent,
        store="memory://",
        retry=FAST_RETRY,
        handle_signals=False,
    )


def echo(messages: list[Any], tools: Any) -> str:
    return f"echo: {messages[-1].text}"


PRIVATE = {"id": 42, "type": "private", "first_name": "Ann", "username": "ann"}
GROUP = {"id": -100123, "type": "group", "title": "Team"}


async def test_a_user_message_gets_a_reply_in_the_emulator(emulator: Emulator) -> None:
    runtime = runtime_for(emulator.url, LLMAgent(model=FunctionModel(echo)), edit_interval=None)
    async with running(runtime):
        client = emulator
        await client.say("hello", PRIVATE)
        replies = await client.wait_for(lambda m: len(m) == 1)
        assert replies == [{"chat_id": "42", "text": "echo: hello", "edited": False}]
        # in a group only a mention of the bot (its username from the emulator's getMe) counts
        await client.say("just chatting", GROUP)
        await client.say("@TestNameBot what time is it?", GROUP)
        replies = await client.wait_for(lambda m: len(m) == 2)
    assert replies[1] == {"chat_id": "-100123", "text": "echo: what time is it?", "edited": False}
    status = runtime.statuses[("input", "tg")]
    assert status.received == 2
    assert runtime.statuses[("output", "tg")].delivered == 2


async def test_a_streamed_reply_is_one_message_edited_in_the_emulator(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    final = "Hello there, my friend, how are you today?"
    agent = LLMAgent(model=ScriptedModel([final]), stream=True)
    runtime = runtime_for(emulator.url, agent, edit_interval=0.0)
    async with running(runtime):
        client = emulator
        await client.say("hi", PRIVATE)
        replies = await client.wait_for(lambda m: any(r["text"] == final for r in m))
    # sendMessage once (the placeholder), then editMessageText up to the whole reply
    assert replies == [{"chat_id": "42", "text": final, "edited": True}]
    assert runtime.statuses[("output", "tg")].delivered == 1
    assert not [r for r in caplog.records if "streamed edit" in r.getMessage()]
