"""What an input client and an output client are (one module per platform implements them).

An **input client** receives messages (a schedule, a webhook, stdin, a chat platform) and
hands each to the runtime through its `Sink`:

    class MyInput(InputClient):
        platform = "mine"
        async def run(self, sink: Sink) -> None:      # runs until stopped
            async for raw in my_platform_events():
                result = await sink.submit(InboundMessage(id=..., conversation=..., text=...))
                # result: "accepted" | "duplicate" | "invalid: <reason>" (never raises)

`run` is started by the runtime and supervised: when it raises, the client is restarted with
backoff (and its status says so); when it returns, the client has finished (stdin at EOF).
`stop()` (default: cancel `run`) ends it. `start()`/`stop()` wrap `run` for use without a
runtime; the runtime calls them too.

An **output client** delivers replies:

    class MyOutput(OutputClient):
        platform = "mine"
        limits = OutputLimits(max_chars=4096)          # longer replies are split
        async def send(self, delivery: Delivery) -> None:
            ...  # raise DeliveryFailed(msg, retryable=...) when it did not go out

`delivery.key` is stable across restarts: pass it to the platform as an idempotency key.
Outputs that can edit messages set `limits.edit_interval` and implement `open_stream` (see
`StreamingOutput`): the runtime then streams the reply as edits, at most one per interval, and
delivers the final text through the outbox as the last edit. A platform client that is both
(a chat bot) subclasses both and is passed in `inputs` and `outputs` under one name: replies
to its messages go back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from agenthost.ports.channels import Delivery, InboundMessage

log = logging.getLogger("agenthost.channels")

SubmitResult = str  # "accepted" | "duplicate" | "invalid: <why>" | "stopping"


class Sink(Protocol):
    """Where an input client puts messages: the runtime (validates, stores, queues)."""

    async def submit(self, message: InboundMessage) -> SubmitResult: ...


class InputClient:
    """Base of input clients: a name (unique in a runtime), a platform, and `run`."""

    platform: ClassVar[str] = "input"

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name or self.platform
        self._task: asyncio.Task[None] | None = None

    async def run(self, sink: Sink) -> None:
        """Receive messages and submit them until stopped (cancelled)."""
        raise NotImplementedError

    async def start(self, sink: Sink) -> None:
        """Start `run` in a task (for use without a runtime)."""
        self._task = asyncio.create_task(self.run(sink), name=f"channel-input-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def describe(self) -> str:
        """One line for status tables (what it listens to)."""
        return self.platform


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputLimits:
    """What an output's platform allows: `max_chars` per message (longer replies are split
    at paragraph, line or word boundaries), `edit_interval` seconds between edits of a
    streamed message (None: the platform cannot edit; only the final text is sent),
    `concurrency` deliveries at once (to different conversations)."""

    max_chars: int | None = None
    edit_interval: float | None = None
    concurrency: int = 8


class OutputClient:
    """Base of output clients: a name, a platform, limits, `send`, and a lifecycle."""

    platform: ClassVar[str] = "output"
    limits: OutputLimits = OutputLimits()

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name or self.platform

    async def start(self) -> None:
        """Open what sending needs (an HTTP session, a bot login)."""

    async def stop(self) -> None:
        """Close it; pending replies stay in the outbox for the next start."""

    async def send(self, delivery: Delivery) -> None:
        """Deliver one reply part; raise DeliveryFailed when it did not go out."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.platform


@runtime_checkable
class StreamingOutput(Protocol):
    """An output that can show a reply while it is written (edits a message)."""

    async def open_stream(self, conversation: str, inbound: InboundMessage) -> Any:
        """Post a placeholder message; returns a handle for `edit_stream`."""
        ...

    async def edit_stream(self, handle: Any, text: str) -> None:
        """Replace the placeholder's text (best effort: errors are logged, not retried)."""
        ...


ClientState = Literal["starting", "running", "restarting", "finished", "stopped", "failed"]


@dataclass(slots=True, kw_only=True)
class ClientStatus:
    """One client's state, as status tables, `/readyz` and metrics show it."""

    name: str
    direction: Literal["input", "output"]
    platform: str
    describe: str = ""
    state: ClientState = "starting"
    restarts: int = 0
    last_error: str | None = None
    received: int = 0  # inputs: messages accepted
    rejected: int = 0  # inputs: invalid messages
    duplicates: int = 0  # inputs: repeats dropped
    delivered: int = 0  # outputs: parts delivered
    retried: int = 0  # outputs: failed attempts to be retried
    failed: int = 0  # outputs: parts given up

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}
