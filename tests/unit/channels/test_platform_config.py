"""examples/channels/platforms.yaml: built from the config and run against the four fakes."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from agenthost.channels import ChannelRuntime, Route
from agenthost.channels._build import build_clients
from agenthost.channels.discord import DiscordInput
from agenthost.channels.slack import SlackInput
from agenthost.config import load_config
from agenthost.core.errors import ConfigError
from tests.unit.channels.conftest import echo_agent
from tests.unit.channels.platform_fakes import FakeDiscord, FakeSlack, FakeTelegram, FakeX
from tests.unit.channels.test_runtime import FAST_RETRY, running

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "channels" / "platforms.yaml"


def set_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", FakeTelegram.TOKEN)
    monkeypatch.setenv("DISCORD_BOT_TOKEN", FakeDiscord.TOKEN)
    monkeypatch.setenv("SLACK_BOT_TOKEN", FakeSlack.TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", FakeSlack.SIGNING_SECRET)
    monkeypatch.setenv("X_USER_TOKEN", FakeX.TOKEN)


def test_a_missing_token_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch)
    monkeypatch.delenv("DISCORD_BOT_TOKEN")
    config = load_config(EXAMPLE)
    assert config.channels is not None
    with pytest.raises(ConfigError, match=r"channels.inputs.discord.token_env.*DISCORD_BOT_TOKEN"):
        build_clients(config.channels)


def test_a_token_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agenthost.yaml"
    path.write_text(
        "channels:\n  inputs:\n    tg: {type: telegram, token: '123:abc'}\n", encoding="utf-8"
    )
    with pytest.raises((ConfigError, msgspec.ValidationError), match="token"):
        load_config(path)


async def test_the_example_config_runs_against_the_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch)
    async with FakeTelegram() as tg, FakeDiscord() as dc, FakeSlack() as sl, FakeX() as x:
        env = {
            "TELEGRAM_API": tg.url,
            "DISCORD_API": dc.api_url,
            "SLACK_API": sl.api_url,
            "X_API": x.url,
            "SLACK_EVENTS_PORT": "0",
        }
        config = load_config(EXAMPLE, env=env)
        assert config.channels is not None
        inputs, outputs = build_clients(config.channels)
        assert [(c.name, c.platform) for c in inputs] == [
            ("telegram", "telegram"),
            ("discord", "discord"),
            ("slack", "slack"),
        ]
        assert [(c.name, c.platform, c.limits.max_chars) for c in outputs] == [
            ("telegram", "telegram", 4096),
            ("discord", "discord", 2000),
            ("slack", "slack", 4000),
            ("x", "x", 280),
        ]
        runtime = ChannelRuntime(
            inputs=inputs,
            outputs=outputs,
            routes=[  # as the config says: Slack's replies also go to X
                Route(outputs=tuple(r.outputs), inputs=tuple(r.inputs), target=r.target)
                for r in config.channels.routes
            ],
            agent=echo_agent(),
            store="memory://",
            retry=FAST_RETRY,
            handle_signals=False,
        )
        gateway = next(c for c in inputs if isinstance(c, DiscordInput))
        events = next(c for c in inputs if isinstance(c, SlackInput))
        async with running(runtime):
            await tg.user_message({"id": 5, "type": "private"}, "from telegram")
            await gateway.ready.wait()
            await dc.dispatch_message("from discord", channel="dm-9")
            await events.listening.wait()
            await sl.deliver(
                f"http://127.0.0.1:{events.port}/slack/events",
                sl.event_callback(
                    {
                        "type": "message",
                        "channel_type": "im",
                        "user": "U42",
                        "text": "from slack",
                        "ts": "9.1",
                        "channel": "D9",
                    }
                ),
            )
            await tg.wait_for(lambda: "echo: from telegram" in tg.messages.values())
            await dc.wait_for(lambda: len(dc.messages) == 1)
            await sl.wait_for(lambda: len(sl.messages) == 1)
            await x.wait_for(lambda: len(x.posts) == 1)
    assert [m["content"] for m in dc.messages.values()] == ["echo: from discord"]
    assert list(sl.messages.values()) == ["echo: from slack"]
    assert list(x.posts.values()) == [{"text": "echo: from slack"}]


def test_chat_outputs_take_their_entry_and_the_named_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from agenthost.channels import discord, slack, telegram
    from agenthost.config.channels import (
        DiscordOutputConfig,
        SlackOutputConfig,
        TelegramOutputConfig,
    )

    monkeypatch.setenv("MY_TG", "1:tg")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    tg = telegram.build_output(
        "tg",
        TelegramOutputConfig(
            token_env="MY_TG", base_url="http://tg", edit_interval=None, parse_mode="HTML"
        ),
    )
    assert (tg.name, tg.bot.token, tg.bot.api.base_url) == ("tg", "1:tg", "http://tg")
    assert (tg.limits.edit_interval, tg.parse_mode) == (None, "HTML")
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "dc-token")
    dc = discord.build_output("dc", DiscordOutputConfig(max_chars=1500, edit_interval=2.0))
    assert (dc.limits.max_chars, dc.limits.edit_interval) == (1500, 2.0)
    assert dc.api.headers["Authorization"] == "Bot dc-token"
    with pytest.raises(ConfigError, match=r"channels.outputs.sl.token_env.*SLACK_BOT_TOKEN"):
        slack.build_output("sl", SlackOutputConfig())
