"""ChannelRuntime: input clients feed the Runner, output clients deliver the replies.

    runtime = ChannelRuntime(inputs=[CronInput(...), WebhookInput(...)],
                             outputs=[WebhookOutput(...)], agent=agent)
    await runtime.run()          # until stopped (SIGINT/SIGTERM or runtime.stop())

How one message flows:

    input client -> sink.submit(message)
        validate (type, size, attachments)         invalid: "invalid: ..." + a log line
        wait for room (queue_size messages in flight: backpressure on the input)
        store it in the inbox (ChannelStore.accept) duplicate id: "duplicate", nothing runs
        -> "accepted"                              the input may now acknowledge it
    per conversation, in order (conversations run concurrently, at most `concurrency` runs):
        runner.run(user_id=input name, session_id=conversation)   streamed edits, if any
        reply text (or the error reply) -> routes -> parts split at each output's size limit
        ChannelStore.finish: the parts queued in the outbox and the message marked done,
        with the run's usage and cost, in one transaction
    per output: OutputLoop delivers the outbox with retries (see _delivery.py)

Stopping (`stop()`, a signal): inputs stop first; runs get `grace` seconds to finish, then the
rest are cancelled (code `interrupted`) and their messages stay pending in the inbox; outputs
deliver what is due (`flush_timeout` at most). A second signal skips the grace. At the next
start, pending messages run again (in order) and pending replies are delivered: nothing
accepted is lost, and a reply is queued once.

Creating a runtime starts nothing: `run()` opens the store (and the runner, when given an
agent), starts the outputs and the inputs, and closes what it opened when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import msgspec

from agenthost.channels._delivery import DeliveryRetry, OutputLoop
from agenthost.channels.base import (
    ClientStatus,
    InputClient,
    OutputClient,
    StreamingOutput,
    SubmitResult,
)
from agenthost.channels.routing import Route, Router, split_text
from agenthost.channels.validation import MessageLimits, validate
from agenthost.core.errors import AgentHostError, ConfigError, InvalidMessage
from agenthost.core.events import Event
from agenthost.core.messages import FilePart, ImagePart, Message, TextPart
from agenthost.engine.runner import Runner
from agenthost.ports.channels import ChannelStore, InboundMessage, OutboxItem, RunRecord
from agenthost.ports.protocol import Agent, DeliverySection, EventSource

log = logging.getLogger("agenthost.channels")

DEFAULT_ERROR_REPLY = "Sorry, I could not answer that ({code}). Please try again later."
DEFAULT_EMPTY_REPLY = "(no answer)"
_INVALID = "agenthost.invalid"  # meta key of the stub queued for an invalid message's reply
_INVALID_REPLY = "Your message was not accepted: "


class _Room:
    """At most `size` messages in flight; `force` admits recovered ones beyond it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0
        self._cond = asyncio.Condition()

    async def take(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.used < self.size)
            self.used += 1

    def force(self) -> None:
        self.used += 1

    async def give(self) -> None:
        async with self._cond:
            self.used -= 1
            self._cond.notify()


class _InputSink:
    """The sink one input client sees: the runtime, with the client's name on each message."""

    __slots__ = ("_client", "_runtime")

    def __init__(self, runtime: ChannelRuntime, client: InputClient) -> None:
        self._runtime = runtime
        self._client = client

    async def submit(self, message: InboundMessage) -> SubmitResult:
        return await self._runtime._submit(self._client, message)


class ChannelRuntime:
    """Any number of input and output clients around one agent (see the module doc).

    Give `agent` (a Runner is built over `store`, a session store or its URL; default the
    SQLite file under $AGENTHOST_HOME) or a ready `runner` (not closed here). `routes` add
    destinations (see routing.py); `reply_to` maps an input name to the output its replies
    go back to (default: the output of the same name). `concurrency` runs at once,
    `queue_size` messages in flight before inputs wait; `grace` seconds for runs at stop.
    """

    def __init__(
        self,
        *,
        inputs: Sequence[InputClient],
        outputs: Sequence[OutputClient] = (),
        agent: Agent | None = None,
        runner: Runner | None = None,
        store: Any = None,
        channel_store: ChannelStore | None = None,
        routes: Sequence[Route] = (),
        reply_to: dict[str, str | None] | None = None,
        app: str = "channels",
        concurrency: int = 32,
        queue_size: int = 1000,
        limits: MessageLimits | None = None,
        retry: DeliveryRetry | None = None,
        grace: float = 30.0,
        flush_timeout: float = 10.0,
        restart_delay: float = 1.0,
        max_restart_delay: float = 60.0,
        error_reply: str = DEFAULT_ERROR_REPLY,
        reply_invalid: bool = True,
        handle_signals: bool = True,
    ) -> None:
        if (agent is None) == (runner is None):
            raise ConfigError("ChannelRuntime needs exactly one of agent= and runner=.")
        if runner is not None and store is not None:
            raise ConfigError("ChannelRuntime: store= is the runner's; pass one or the other.")
        _unique("inputs", [c.name for c in inputs])
        _unique("outputs", [c.name for c in outputs])
        if concurrency < 1 or queue_size < 1:
            raise ConfigError(
                f"ChannelRuntime: concurrency ({concurrency}) and queue_size ({queue_size}) "
                f"must be at least 1."
            )
        self.inputs = list(inputs)
        self.outputs = {c.name: c for c in outputs}
        self.router = Router(
            routes,
            inputs=[c.name for c in inputs],
            outputs=list(self.outputs),
            reply_to=reply_to or {},
        )
        self._agent = agent
        self._runner = runner
        self._store_arg = store
        self._channel_store = channel_store
        self.app = app
        self.concurrency = concurrency
        self.queue_size = queue_size
        self.limits = limits or MessageLimits()
        self.retry = retry or DeliveryRetry()
        self.grace = grace
        self.flush_timeout = flush_timeout
        self.restart_delay = restart_delay
        self.max_restart_delay = max_restart_delay
        self.error_reply = error_reply
        self.reply_invalid = reply_invalid
        self.handle_signals = handle_signals
        self.statuses: dict[tuple[str, str], ClientStatus] = {}
        for c in inputs:
            self.statuses[("input", c.name)] = ClientStatus(
                name=c.name, direction="input", platform=c.platform, describe=c.describe()
            )
        for o in outputs:
            self.statuses[("output", o.name)] = ClientStatus(
                name=o.name, direction="output", platform=o.platform, describe=o.describe()
            )
        self.processed = 0  # messages whose replies are queued
        self.started = asyncio.Event()  # set once outputs and inputs are started
        self.stopped = asyncio.Event()
        self._stop = asyncio.Event()
        self._running = False
        self._hurry = False
        self._loops: dict[str, OutputLoop] = {}
        self._conversations: dict[tuple[str, str], deque[InboundMessage]] = {}
        self._room: _Room | None = None
        self._runs: asyncio.Semaphore | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._active: set[str] = set()
        self._idle: asyncio.Condition | None = None

    # ---- public ---------------------------------------------------------------------------

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            raise AgentHostError("The runtime is not running: call run() first.")
        return self._runner

    @property
    def store(self) -> ChannelStore:
        if self._channel_store is None:
            raise AgentHostError("The runtime is not running: call run() first.")
        return self._channel_store

    def stop(self, *, hurry: bool = False) -> None:
        """Ask `run()` to stop gracefully (`hurry`: cancel the runs at once)."""
        self._hurry = self._hurry or hurry
        if self._running:
            if self._stop.is_set():
                self._hurry = True
                for run_id in list(self._active):
                    with contextlib.suppress(AgentHostError):
                        self.runner.cancel(
                            run_id, "the channel runtime stopped", code="interrupted"
                        )
            self._stop.set()

    def status(self) -> list[ClientStatus]:
        return list(self.statuses.values())

    def in_flight(self) -> int:
        return self._room.used if self._room is not None else 0

    async def wait_idle(self) -> None:
        """Wait until no message is in flight (all accepted messages have their replies
        queued)."""
        assert self._idle is not None, "the runtime is not running"
        async with self._idle:
            await self._idle.wait_for(lambda: self._room is None or self._room.used == 0)

    async def run(self) -> None:
        """Run until stopped; see the module doc."""
        if self._running or self.stopped.is_set():
            raise AgentHostError("This ChannelRuntime is running already (or has run).")
        self._running = True
        self._room = _Room(self.queue_size)
        self._runs = asyncio.Semaphore(self.concurrency)
        self._idle = asyncio.Condition()
        async with contextlib.AsyncExitStack() as stack:
            await self._open(stack)
            self._install_signals(stack)
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                await self._serve(tg)
        self._running = False
        self.stopped.set()
        log.info("channel runtime stopped")

    # ---- lifecycle ------------------------------------------------------------------------

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        if self._runner is None:
            assert self._agent is not None
            store = self._store_arg
            if store is None or isinstance(store, str):
                from agenthost.backends.sessions import open_session_store
                from agenthost.config.paths import default_store_url, home_dir

                if store is None:  # the home's own file upgrades itself (docs/stores.md)
                    store = open_session_store(default_store_url(home_dir()), auto_upgrade=True)
                else:
                    store = open_session_store(store)
                await stack.enter_async_context(store)
            runner = Runner(self._agent, store=store, app=self.app)
            await stack.enter_async_context(runner)
            self._runner = runner
            stack.callback(self._forget_runner)
        if self._channel_store is None:
            from agenthost.backends.sessions.channel_store import channel_store_for

            self._channel_store = channel_store_for(self._runner.store)

    def _forget_runner(self) -> None:
        if self._agent is not None:
            self._runner = None

    def _install_signals(self, stack: contextlib.AsyncExitStack) -> None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Unix
                continue
            stack.callback(loop.remove_signal_handler, sig)

    def _on_signal(self, sig: int) -> None:
        log.info("channel runtime: %s, stopping", signal.Signals(sig).name)
        self.stop()

    async def _serve(self, tg: asyncio.TaskGroup) -> None:
        store = self.store
        for name, output in self.outputs.items():
            loop = OutputLoop(
                output,
                store,
                self.statuses[("output", name)],
                self.retry,
                self.restart_delay,
            )
            self._loops[name] = loop
        delivery = [
            tg.create_task(loop.run(), name=f"channel-output-{n}")
            for n, loop in self._loops.items()
        ]
        recovered = await store.pending()
        assert self._room is not None
        for entry in recovered:
            self._room.force()
            self._enqueue(entry.message)
        if recovered:
            log.info("channel runtime: %d message(s) from before the restart", len(recovered))
        supervisors = [
            tg.create_task(self._supervise(c), name=f"channel-input-{c.name}") for c in self.inputs
        ]
        self.started.set()
        await self._stop.wait()
        log.info("channel runtime stopping: inputs first")
        for task in supervisors:
            task.cancel()
        await asyncio.gather(*supervisors, return_exceptions=True)
        for client in self.inputs:
            with contextlib.suppress(Exception):
                await client.stop()
        await self._drain()
        for loop in self._loops.values():
            loop.flushing = True
            loop.wake.set()
        try:
            async with asyncio.timeout(self.flush_timeout):
                await asyncio.gather(*delivery, return_exceptions=True)
        except TimeoutError:
            log.warning("channel runtime: outputs still delivering after %ss", self.flush_timeout)
            for task in delivery:
                task.cancel()
        for name, output in self.outputs.items():
            self.statuses[("output", name)].state = "stopped"
            try:
                await output.stop()
            except Exception:
                log.exception("output %s failed to stop", name)

    async def _drain(self) -> None:
        """Give running conversations `grace` seconds, then interrupt their runs."""
        assert self._idle is not None
        if not self._hurry:
            try:
                async with asyncio.timeout(self.grace):
                    await self.wait_idle()
                return
            except TimeoutError:
                log.warning("channel runtime: runs still going after %ss; interrupting", self.grace)
        self._hurry = True
        for run_id in list(self._active):
            with contextlib.suppress(AgentHostError):
                self.runner.cancel(run_id, "the channel runtime stopped", code="interrupted")
        # queued messages that have not started stay pending in the inbox
        async with self._idle:
            await self._idle.wait_for(lambda: not self._conversations)

    # ---- inputs ---------------------------------------------------------------------------

    async def _supervise(self, client: InputClient) -> None:
        status = self.statuses[("input", client.name)]
        delay = self.restart_delay
        sink = _InputSink(self, client)
        while True:
            status.state = "running"
            began = time.monotonic()
            try:
                await client.run(sink)
            except asyncio.CancelledError:
                status.state = "stopped"
                raise
            except Exception as exc:
                if time.monotonic() - began > self.max_restart_delay:
                    delay = self.restart_delay  # it ran well for a while: start over
                status.state = "restarting"
                status.restarts += 1
                status.last_error = f"{type(exc).__name__}: {exc}"
                log.error(
                    "input %s died (%s); restart %d in %.1fs",
                    client.name,
                    status.last_error,
                    status.restarts,
                    delay,
                    exc_info=exc,
                )
                with contextlib.suppress(Exception):
                    await client.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_restart_delay)
                continue
            status.state = "finished"
            log.info("input %s finished", client.name)
            if getattr(client, "stop_runtime_when_done", False):
                self.stop()
            return

    async def _submit(self, client: InputClient, message: InboundMessage) -> SubmitResult:
        status = self.statuses[("input", client.name)]
        assert self._room is not None
        if self._stop.is_set():
            return "stopping"
        if not isinstance(cast(object, message), InboundMessage):  # a client's bug
            status.rejected += 1
            log.warning("input %s submitted %r, not an InboundMessage", client.name, message)
            return "invalid: not an InboundMessage"
        message = msgspec.structs.replace(
            message,
            input=client.name,
            platform=message.platform or client.platform,
            received_at=message.received_at or time.time(),
        )
        try:
            validate(message, self.limits)
        except InvalidMessage as exc:
            status.rejected += 1
            log.warning("input %s: invalid message dropped: %s", client.name, exc.message)
            if self.reply_invalid and exc.field not in ("id", "conversation"):
                await self._reply_invalid(message, exc.message)
            return f"invalid: {exc.message}"
        await self._room.take()
        try:
            accepted = await self.store.accept(message)
        except BaseException:
            await self._room.give()
            raise
        if not accepted:
            await self._room.give()
            status.duplicates += 1
            log.info("input %s: duplicate message %s dropped", client.name, message.id)
            return "duplicate"
        status.received += 1
        self._enqueue(message)
        return "accepted"

    async def _reply_invalid(self, message: InboundMessage, why: str) -> None:
        """A clear reply to an invalid message, in its conversation's order, without running
        the agent: a stub (no text, no files) is stored and queued like any message."""
        if self.router.origin_output(message.input) is None:
            return
        stub = msgspec.structs.replace(
            message, text="", attachments=(), meta={_INVALID: f"{_INVALID_REPLY}{why}"}
        )
        assert self._room is not None
        await self._room.take()
        if not await self.store.accept(stub):
            await self._room.give()
            return
        self._enqueue(stub)

    # ---- conversations --------------------------------------------------------------------

    def _enqueue(self, message: InboundMessage) -> None:
        key = (message.input, message.conversation)
        queue = self._conversations.get(key)
        if queue is not None:
            queue.append(message)
            return
        self._conversations[key] = deque([message])
        assert self._tg is not None
        self._tg.create_task(self._conversation(key), name=f"channel-conversation-{key[1]}")

    async def _conversation(self, key: tuple[str, str]) -> None:
        queue = self._conversations[key]
        assert self._runs is not None and self._room is not None and self._idle is not None
        try:
            while queue:
                message = queue[0]
                if self._hurry:
                    break
                async with self._runs:
                    try:
                        await self._process(message)
                    except Exception:
                        log.exception(
                            "channel message %s of %s could not be handled; it stays pending",
                            message.id,
                            message.conversation,
                        )
                queue.popleft()
                await self._room.give()
        finally:
            released = len(queue)
            del self._conversations[key]
            for _ in range(released):  # left pending in the inbox for the next start
                await self._room.give()
            async with self._idle:
                self._idle.notify_all()

    async def _process(self, message: InboundMessage) -> None:
        origin = self.router.origin_output(message.input)
        out = self.outputs.get(origin) if origin is not None else None
        invalid = message.meta.get(_INVALID)
        if isinstance(invalid, str):
            await self._queue(
                message,
                [(origin, message.conversation)] if origin else [],
                invalid,
                None,
                None,
                origin,
            )
            return
        reply, record, handle = await self._run_agent(message, out)
        if record is None:
            return  # interrupted by a stop: it stays pending and runs again at the next start
        await self._queue(message, self.router.targets(message), reply, record, handle, origin)

    async def _queue(
        self,
        message: InboundMessage,
        targets: list[tuple[str, str]],
        reply: str,
        record: RunRecord | None,
        handle: Any,
        origin: str | None,
    ) -> None:
        """Split the reply for each target, queue the parts and mark the message done."""
        items: list[OutboxItem] = []
        for output_name, target in targets:
            limits = self.outputs[output_name].limits
            parts = split_text(reply, limits.max_chars)
            for index, text in enumerate(parts):
                meta: dict[str, Any] = {}
                if index == 0 and handle is not None and output_name == origin:
                    meta["edit"] = handle
                items.append(
                    OutboxItem(
                        output=output_name,
                        target=target,
                        text=text,
                        inbound_key=message.key,
                        part=index,
                        parts=len(parts),
                        meta=meta,
                    )
                )
        if not items:
            log.warning(
                "input %s has no output: the reply to %s is dropped", message.input, message.id
            )
        await self.store.finish(message.key, items, record)
        self.processed += 1
        for name in {item.output for item in items}:
            self._loops[name].wake.set()

    async def _run_agent(
        self, message: InboundMessage, out: OutputClient | None
    ) -> tuple[str, RunRecord | None, Any]:
        """The reply's text, the run's record (None when interrupted by a stop), and the
        handle of the streamed message, if one was opened."""
        runner = self.runner
        candidate: Any = out
        stream: StreamingOutput | None = (
            candidate if isinstance(candidate, StreamingOutput) else None
        )
        interval = out.limits.edit_interval if out is not None else None
        delivery = DeliverySection(
            surface=out.platform if out is not None else "none",
            supports_streaming=stream is not None and interval is not None,
            supports_edit=stream is not None and interval is not None,
            max_message_size=out.limits.max_chars if out is not None else None,
        )
        source = EventSource(
            platform=message.platform,
            conversation_id=message.conversation,
            sender_id=message.sender,
        )
        text = ""
        shown = ""
        handle: Any = None
        last_edit = 0.0
        terminal: Event | None = None
        run_id = ""
        try:
            async with contextlib.aclosing(
                runner.run(
                    message.input,
                    message.conversation,
                    _as_message(message),
                    source=source,
                    delivery=delivery,
                )
            ) as events:
                async for event in events:
                    if not run_id:
                        run_id = event.run_id
                        self._active.add(run_id)
                        if self._hurry:  # stopping began while it waited for its session
                            with contextlib.suppress(AgentHostError):
                                runner.cancel(
                                    run_id, "the channel runtime stopped", code="interrupted"
                                )
                    if (
                        event.type == "message.delta"
                        and stream is not None
                        and interval is not None
                    ):
                        shown += event.text
                        now = time.monotonic()
                        if now - last_edit >= interval:
                            last_edit = now
                            handle = await _edit(stream, handle, message, shown)
                    elif event.type == "message.completed" and event.message is not None:
                        if event.message.text:
                            text = event.message.text
                    elif event.is_terminal:
                        terminal = event
        except AgentHostError as exc:
            log.error("run for channel message %s failed to start: %s", message.id, exc.message)
            return (
                self.error_reply.format(code=exc.code),
                RunRecord(run_id=run_id or "-", status="failed", error_code=exc.code),
                handle,
            )
        finally:
            self._active.discard(run_id)
        assert terminal is not None
        record = _record(terminal)
        if terminal.type != "run.completed":
            code = terminal.error.code if terminal.error is not None else "error"
            if code == "interrupted" and self._hurry:
                return "", None, handle
            return self.error_reply.format(code=code), record, handle
        return text or DEFAULT_EMPTY_REPLY, record, handle


async def _edit(stream: StreamingOutput, handle: Any, message: InboundMessage, text: str) -> Any:
    """One streamed edit, best effort: a failure is logged and the stream goes on."""
    try:
        if handle is None:
            handle = await stream.open_stream(message.conversation, message)
        await stream.edit_stream(handle, text)
    except Exception as exc:
        log.warning("streamed edit to %s failed: %s", message.conversation, exc)
    return handle


def _record(terminal: Event) -> RunRecord:
    usage = terminal.usage
    data = terminal.data or {}
    return RunRecord(
        run_id=terminal.run_id,
        status=str(
            data.get("status", "completed" if terminal.type == "run.completed" else "failed")
        ),
        usage=msgspec.to_builtins(usage) if usage is not None else {},
        cost=data.get("cost"),
        error_code=terminal.error.code if terminal.error is not None else None,
    )


def _as_message(message: InboundMessage) -> Message:
    parts: list[Any] = []
    if message.text:
        parts.append(TextPart(text=message.text))
    for item in message.attachments:
        if item.mime_type.startswith("image/"):
            parts.append(ImagePart(url=item.url, data=item.data, mime_type=item.mime_type))
        else:
            parts.append(
                FilePart(url=item.url, data=item.data, mime_type=item.mime_type, name=item.name)
            )
    return Message(role="user", parts=tuple(parts))


def _unique(field: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(
                f"ChannelRuntime {field}: two clients are named {name!r}; give each a name= of "
                f"its own."
            )
        seen.add(name)
