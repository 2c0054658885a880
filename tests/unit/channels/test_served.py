"""A client type registered from outside (one module + a registry entry), run by the server:
an input that keeps dying is restarted, and /readyz and /metrics say so."""

from __future__ import annotations

from typing import Literal

import httpx

from agenthost import Runner, open_session_store
from agenthost.channels import InputClient
from agenthost.config.channels import ChannelInputConfig, ChannelTypeSpec, register_channel_type
from agenthost.config.loader import parse_config
from agenthost.server.app import create_app
from agenthost.server.channels import ServedChannels
from tests.unit.channels.conftest import FeedInput, echo_agent


class CrashingConfig(ChannelInputConfig, kw_only=True):
    type: Literal["crashing"] = "crashing"
    crashes: int = 1_000_000


def build(name: str, config: CrashingConfig) -> InputClient:
    return FeedInput(name, crash_first=config.crashes)


async def test_a_dying_input_shows_in_readyz_and_metrics() -> None:
    register_channel_type(
        ChannelTypeSpec(
            direction="input",
            name="crashing",
            config=CrashingConfig,
            build=f"{__name__}:build",
            summary="an input that dies (tests)",
        )
    )
    config = parse_config(
        {
            "agents": {"helper": {"model": "openai:gpt-4o-mini"}},
            "channels": {"inputs": {"bad": {"type": "crashing"}}},
        },
        env={},
    )
    assert config.channels is not None
    async with (
        open_session_store("memory://") as store,
        Runner(echo_agent(), store=store) as runner,
    ):
        served = ServedChannels(config.channels, "helper")
        app = create_app({"helper": runner}, on_startup=[served.start], on_shutdown=[served.stop])
        async with app.router.lifespan_context(app):
            assert served.runtime is not None
            feed = served.runtime.inputs[0]
            assert isinstance(feed, FeedInput)
            await feed.crashed.wait()  # the supervisor records it before it waits to restart
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                ready = await c.get("/readyz")
                metrics = (await c.get("/metrics")).text
    assert ready.status_code == 503
    body = ready.json()
    assert any(
        "channel input bad is restarting: RuntimeError: crash 1" in p for p in body["problems"]
    )
    assert body["channels"][0]["state"] == "restarting"
    assert 'agenthost_channel_up{direction="input",name="bad",platform="feed"} 0.0' in metrics
    assert (
        'agenthost_channel_restarts_total{direction="input",name="bad",platform="feed"} 1.0'
        in metrics
    )
