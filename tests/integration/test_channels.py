"""Channel clients against real HTTP on 127.0.0.1: the webhook input (signatures, replays,
limits), the webhook output (idempotency keys, signatures, retries), cron ticks, the
`agenthost channels run` command, and `agenthost serve` running the channels."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from agenthost.channels import ChannelRuntime, CronInput, DeliveryRetry, WebhookInput, WebhookOutput
from agenthost.channels.signing import sign, verify
from tests.unit.channels.conftest import echo_agent

pytestmark = pytest.mark.integration


class Receiver:
    """A webhook receiver on 127.0.0.1: fails the first `fail_first` POSTs with 503."""

    def __init__(self, secret: str | None = None, fail_first: int = 0) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.posts: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.bad_signatures = 0
        self.changed = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.secret and verify(self.secret, request.headers, body) is not None:
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503, headers={"Retry-After": "0"})
        async with self.changed:
            self.posts.append(msgspec.json.decode(body))
            self.keys.append(request.headers["Idempotency-Key"])
            self.changed.notify_all()
        return web.Response(status=204)

    async def wait(self, n: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.posts) >= n)


@contextlib.asynccontextmanager
async def receiver(**kw: Any) -> AsyncIterator[Receiver]:
    rec = Receiver(**kw)
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running(runtime: ChannelRuntime) -> AsyncIterator[None]:
    task = asyncio.create_task(runtime.run())
    await runtime.started.wait()
    try:
        yield
    finally:
        runtime.stop()
        await task


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, data=body, headers=headers) as response:
        text = await response.read()
        return response.status, (
            msgspec.json.decode(text)
            if text and response.content_type == "application/json"
            else {}
        )


async def test_webhook_in_and_out(tmp_path: Path) -> None:
    async with receiver(secret="out-secret", fail_first=2) as rec:
        hook_in = WebhookInput(
            name="web", secret="in-secret", port=0, path="/in", max_body_bytes=4096
        )
        hook_out = WebhookOutput(name="hook", url=rec.url, secret="out-secret")
        runtime = ChannelRuntime(
            inputs=[hook_in],
            outputs=[hook_out],
            reply_to={"web": "hook"},
            agent=echo_agent(),
            store=f"sqlite:///{tmp_path}/ch.db",
            retry=DeliveryRetry(base=0.001, jitter=0),
            handle_signals=False,
        )
        async with running(runtime), aiohttp.ClientSession() as s:
            await hook_in.listening.wait()
            url = f"http://127.0.0.1:{hook_in.port}/in"
            body = msgspec.json.encode(
                {"id": "m1", "conversation": "c1", "text": "hello", "sender": "al"}
            )
            assert await post(s, url, body, sign("in-secret", body)) == (
                202,
                {"status": "accepted", "id": "m1"},
            )
            # the same message again (a sender's retry, or a replay inside the window)
            assert (await post(s, url, body, sign("in-secret", body)))[0] == 200
            assert (await post(s, url, body, sign("wrong", body)))[0] == 401
            assert (await post(s, url, body, sign("in-secret", body, now=1)))[0] == 401  # stale
            assert (await post(s, url, body, {}))[0] == 401
            big = msgspec.json.encode({"id": "m2", "conversation": "c1", "text": "x" * 5000})
            assert (await post(s, url, big, sign("in-secret", big)))[0] == 413
            bad = b'{"id": "m3", "conversation": "c1", "txt": "typo"}'
            status, answer = await post(s, url, bad, sign("in-secret", bad))
            assert status == 400 and "txt" in answer["message"]
            empty = msgspec.json.encode({"id": "m4", "conversation": "c1", "text": " "})
            status, answer = await post(s, url, empty, sign("in-secret", empty))
            assert status == 400 and answer["field"] == "text"
            await rec.wait(2)  # the reply (after two 503s) and the invalid message's reply
        assert [p["text"] for p in rec.posts] == [
            "echo: hello",
            "Your message was not accepted: text: is empty",
        ]
        first = rec.posts[0]
        assert first["conversation"] == "c1" and first["in_reply_to"] == {
            "input": "web",
            "conversation": "c1",
            "id": "m1",
        }
        assert rec.keys[0] == first["id"] and rec.bad_signatures == 0
        assert runtime.statuses[("output", "hook")].retried == 2


async def test_webhook_output_gives_up_on_a_4xx() -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=404, text="no such hook")

    app = web.Application()
    app.router.add_post("/hook", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    out = WebhookOutput(url=f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
    from agenthost.core.errors import DeliveryFailed
    from agenthost.ports.channels import Delivery, OutboxItem

    delivery = Delivery(
        id=1,
        key="k",
        item=OutboxItem(output="o", target="t", text="x", inbound_key=("i", "t", "1")),
    )
    try:
        await out.start()
        with pytest.raises(DeliveryFailed, match="404") as info:
            await out.send(delivery)
        assert not info.value.retryable
        await runner.cleanup()
        with pytest.raises(DeliveryFailed, match="failed") as info:
            await out.send(delivery)
        assert info.value.retryable  # connection refused: try again later
    finally:
        await out.stop()


async def test_cron_ticks_reach_the_webhook_output(tmp_path: Path) -> None:
    async with receiver() as rec:
        cron = CronInput(
            name="tick", schedule="* * * * * *", prompt="status?", timezone="Europe/Paris"
        )
        runtime = ChannelRuntime(
            inputs=[cron],
            outputs=[WebhookOutput(name="hook", url=rec.url)],
            reply_to={"tick": "hook"},
            agent=echo_agent(),
            store=f"sqlite:///{tmp_path}/ch.db",
            handle_signals=False,
        )
        async with running(runtime):
            await rec.wait(2)
        ids = [p["in_reply_to"]["id"] for p in rec.posts]
        assert all(
            (i.startswith("tick@") and i.endswith("+01:00")) or i.endswith("+02:00") for i in ids
        )
        assert len(set(ids)) == len(ids)
        assert {p["text"] for p in rec.posts} == {"echo: status?"}


def test_cron_rejects_bad_expressions_and_zones() -> None:
    from agenthost.core.errors import ConfigError

    with pytest.raises(ConfigError, match="not a cron expression"):
        CronInput(schedule="every day", prompt="x")
    with pytest.raises(ConfigError, match="unknown time zone"):
        CronInput(schedule="@daily", prompt="x", timezone="Mars/Olympus")
    tick = CronInput(schedule="0 9 * * *", prompt="x", timezone="Asia/Tokyo").next_tick(0)
    assert (tick.hour, tick.utcoffset().total_seconds()) == (9, 9 * 3600)  # type: ignore[union-attr]


def _config(tmp_path: Path, base_url: str, channels: str) -> Path:
    path = tmp_path / "agenthost.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            app: chtest
            store: sqlite:///{tmp_path}/cli.db
            providers:
              fake: {{base_url: "{base_url}"}}
            agents:
              helper: {{model: fake:fake-model}}
            """
        )
        + textwrap.dedent(channels)
    )
    return path


@pytest.fixture
def fake_url() -> Any:
    from agenthost.testing import FakeOpenAIServer

    with FakeOpenAIServer.start_in_thread() as handle:
        yield handle.base_url


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, AGENTHOST_HOME=str(tmp_path / "home"))
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    return env


def test_channels_run_command_answers_stdin(tmp_path: Path, fake_url: str) -> None:
    config = _config(
        tmp_path,
        fake_url,
        """
        channels:
          inputs:
            term: {type: stdin, stop_at_eof: true, reply_to: console}
          outputs:
            console: {type: stdout}
        """,
    )
    done = subprocess.run(
        [sys.executable, "-m", "agenthost.cli", "channels", "run", "-c", str(config)],
        input="hello there\nsecond line\n",
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[stdin] Echo: hello there", "[stdin] Echo: second line"]
    assert "term" in done.stderr and "finished" in done.stderr  # the status table


def test_channels_config_errors_name_the_field(tmp_path: Path, fake_url: str) -> None:
    config = _config(
        tmp_path,
        fake_url,
        """
        channels:
          inputs:
            tick: {type: cron, schedule: "@daily", promt: hi}
          outputs:
            console: {type: stdot}
          routes:
            - {outputs: [consle]}
        """,
    )
    done = subprocess.run(
        [sys.executable, "-m", "agenthost.cli", "channels", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert done.returncode == 2
    err = " ".join(done.stderr.split())
    assert "channels.inputs.tick.promt: unknown field; did you mean 'prompt'?" in err
    assert "channels.outputs.console.type: invalid value 'stdot'" in err


async def test_serve_runs_the_channels_with_status(tmp_path: Path, fake_url: str) -> None:
    import httpx

    from agenthost.config import load_config
    from agenthost.server.app import create_app
    from agenthost.server.channels import ServedChannels

    async with receiver() as rec:
        config = load_config(
            _config(
                tmp_path,
                fake_url,
                f"""
                channels:
                  inputs:
                    web: {{type: webhook, port: 0, insecure: true, reply_to: hook}}
                  outputs:
                    hook: {{type: webhook, url: "{rec.url}"}}
                """,
            )
        )
        assert config.channels is not None
        served = ServedChannels(config.channels, "helper")
        app = create_app(config, on_startup=[served.start], on_shutdown=[served.stop])
        async with app.router.lifespan_context(app):
            runtime = served.runtime
            assert runtime is not None
            hook = runtime.inputs[0]
            assert isinstance(hook, WebhookInput)
            await hook.listening.wait()
            async with aiohttp.ClientSession() as s:
                body = msgspec.json.encode({"id": "1", "conversation": "c", "text": "hi"})
                assert (await post(s, f"http://127.0.0.1:{hook.port}/", body, {}))[0] == 202
            await rec.wait(1)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                ready = (await c.get("/readyz")).json()
                metrics = (await c.get("/metrics")).text
        assert rec.posts[0]["text"] == "Echo: hi"
        assert ready["status"] == "ready"
        assert {(ch["name"], ch["state"]) for ch in ready["channels"]} == {
            ("web", "running"),
            ("hook", "running"),
        }
        assert (
            'agenthost_channel_up{direction="input",name="web",platform="webhook"} 1.0' in metrics
        )
        assert 'agenthost_channel_deliveries_total{name="hook",result="delivered"} 1.0' in metrics
