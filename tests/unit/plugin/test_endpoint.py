"""The plugin SDK in-process: frames in, frames out, with the test playing the host."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from agenthost.core.errors import HostAPIError
from agenthost.core.messages import Message
from agenthost.plugin import serve_stdio
from agenthost.ports import wire
from agenthost.ports.protocol import (
    ContextSection,
    EventSection,
    HostAPI,
    InputSection,
    Manifest,
    MessageCompleted,
    Resources,
    RunCompleted,
    RunContext,
)


class Agent:
    manifest = Manifest(id="test:sdk", name="sdk")

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.hanging = asyncio.Event()

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        if ctx.input.text == "hang":
            self.hanging.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled.append(ctx.run_id)
                raise
        try:
            value = await host.state.get("session", "k")
        except HostAPIError as exc:
            value = exc.code
        yield [MessageCompleted(message=Message.assistant(f"got {value}")), RunCompleted()]


def context(run_id: str, text: str) -> RunContext:
    return RunContext(
        run_id=run_id,
        event=EventSection(event_id="e"),
        input=InputSection(text=text),
        context=ContextSection(conversation_id="c", user_id="u", app="a"),
        resources=Resources(),
    )


class Host:
    """Feeds frames to the plugin and reads what it sends."""

    def __init__(self) -> None:
        self.reader = asyncio.StreamReader()
        self.out: asyncio.Queue[bytes] = asyncio.Queue()

    def write(self, data: bytes) -> None:
        self.out.put_nowait(data)

    def close(self) -> None:
        pass

    def send(self, data: bytes) -> None:
        self.reader.feed_data(data)

    async def next(self) -> wire.Frame:
        return wire.decode_frame(await asyncio.wait_for(self.out.get(), 60))


@contextmanager
def plugin(agent: Agent) -> Iterator[tuple[Host, asyncio.Task[None]]]:
    host = Host()
    task = asyncio.ensure_future(serve_stdio(agent, reader=host.reader, writer=host))  # type: ignore[arg-type]
    try:
        yield host, task
    finally:
        task.cancel()


async def test_initialize_run_host_call_cancel_and_shutdown() -> None:
    agent = Agent()
    with plugin(agent) as (host, task):
        host.send(wire.request(1, "initialize", wire.InitializeParams(protocol_version="1")))
        init = await host.next()
        assert wire.decode_result(init, wire.InitializeResult).manifest.id == "test:sdk"

        # two runs at once: one hangs, the other asks the host for state
        host.send(wire.request(2, "agent.run", wire.RunParams(context=context("r1", "hang"))))
        host.send(wire.request(3, "agent.run", wire.RunParams(context=context("r2", "hi"))))
        call = await host.next()
        assert call.method == "host.state_get" and call.is_request
        assert wire.decode_params(call, wire.StateKeyParams).run_id == "r2"
        refusal = wire.host_error(HostAPIError("unauthorized", "no state for you"))
        assert not isinstance(call.id, msgspec.UnsetType)
        host.send(wire.error_response(call.id, refusal))
        result = await host.next()
        params = wire.decode_results(result)
        assert params.run_id == "r2" and params.sequence == 1
        assert isinstance(params.result, list)
        assert isinstance(params.result[0], MessageCompleted)
        assert params.result[0].message.text == "got unauthorized"
        done = await host.next()
        assert done.id == 3 and wire.decode_result(done, wire.RunDone).status == "completed"

        # cancel the hanging run: its task is cancelled and the request is answered
        host.send(wire.request(4, "agent.cancel", wire.RunRef(run_id="r1")))
        frames = [await host.next(), await host.next()]
        by_id = {f.id: f for f in frames}
        assert wire.decode_result(by_id[4], wire.CancelResult).cancelled
        assert wire.decode_result(by_id[2], wire.RunDone).status == "cancelled"
        assert agent.cancelled == ["r1"]

        # garbage gets a parse error; unknown methods an error; shutdown stops the loop
        host.send(b"not json\n")
        assert not isinstance((await host.next()).error, msgspec.UnsetType)
        host.send(wire.request(5, "nope", {}))
        nope = await host.next()
        assert not isinstance(nope.error, msgspec.UnsetType)
        assert nope.error.code == wire.METHOD_NOT_FOUND
        host.send(wire.request(6, "shutdown", None))
        assert (await host.next()).id == 6
        await asyncio.wait_for(task, 60)


async def test_the_host_going_away_cancels_the_runs() -> None:
    agent = Agent()
    with plugin(agent) as (host, task):
        host.send(wire.request(1, "agent.run", wire.RunParams(context=context("r1", "hang"))))
        await asyncio.wait_for(agent.hanging.wait(), 30)
        host.reader.feed_eof()
        await asyncio.wait_for(task, 60)
    assert agent.cancelled == ["r1"]
