"""The channel store port: what a ChannelRuntime keeps so that it loses nothing.

Channels (agenthost.channels) carry messages between chat platforms, webhooks, schedules and
the Runner. Two tables make the runtime crash-safe:

- the **inbox**: every message an input client handed in, remembered by its key
  `(input, conversation, message_id)`. `accept` stores it before the sender is told "accepted",
  and says False for a key it has seen (the sender retried: nothing runs twice). A message stays
  `pending` until its run ended and its replies are in the outbox; after a crash the runtime
  runs the pending ones again, in the order they were accepted.
- the **outbox**: every reply part to deliver, keyed by `(output, target, inbound key, part)`.
  `finish` writes a message's replies and marks it done in ONE transaction, so a reply is queued
  exactly once. A delivery is `pending` until the output confirmed it (`delivered`), or it was
  retried `max_attempts` times or refused for good (`failed`).

Backends: memory (this process only), SQLite (tables beside the session store's, in the same
file and connection), Postgres and MySQL/MariaDB (tables of the store's migration 2) and Redis
(keys under the store's prefix); see `agenthost.backends.sessions.channel_store_for`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

DeliveryStatus = Literal["pending", "delivered", "failed"]


class Attachment(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A file that came with a message: a URL (never fetched by the runtime) or small inline
    data (base64 in JSON), its MIME type, name and size in bytes."""

    url: str | None = None
    data: bytes | None = None
    mime_type: str = "application/octet-stream"
    name: str | None = None
    size: int | None = None


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One message from an input client, as it reaches the runtime.

    `input` is the name of the client that received it (set by the runtime), `platform` its
    kind (`webhook`, `cron`, `telegram`, ...), `conversation` the chat/thread/channel it
    belongs to (one session per conversation), `sender` who wrote it, `id` the platform's
    message id (unique within the conversation; a repeated id is a duplicate).
    """

    id: str
    conversation: str
    text: str
    sender: str = ""
    platform: str = ""
    input: str = ""
    attachments: tuple[Attachment, ...] = ()
    meta: dict[str, Any] = {}
    received_at: float = 0.0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.input, self.conversation, self.id)


class InboxEntry(msgspec.Struct, kw_only=True):
    """A stored inbound message: `seq` is its place in accept order."""

    seq: int
    message: InboundMessage


class RunRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a message's run cost, kept with the message for pricing and reports."""

    run_id: str
    status: str  # completed, failed, cancelled, interrupted
    usage: dict[str, Any] = {}
    cost: float | None = None
    error_code: str | None = None


class OutboxItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One reply part to deliver through output `output` to conversation `target`."""

    output: str
    target: str
    text: str
    inbound_key: tuple[str, str, str]
    part: int = 0
    parts: int = 1
    meta: dict[str, Any] = {}


class Delivery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A stored outbox row. `key` is stable across restarts: outputs send it as their
    idempotency key so that the receiving side can drop a repeat after a crash."""

    id: int
    key: str
    item: OutboxItem
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_at: float = 0.0
    last_error: str | None = None


@runtime_checkable
class ChannelStore(Protocol):
    """The inbox and the outbox (see the module doc). Timestamps are `time.time()` seconds."""

    async def accept(self, message: InboundMessage) -> bool:
        """Store `message` as pending; False (and nothing stored) when its key is known."""
        ...

    async def pending(self) -> list[InboxEntry]:
        """Messages accepted and not finished, in accept order (what a restart runs again)."""
        ...

    async def finish(
        self, key: tuple[str, str, str], items: Sequence[OutboxItem], run: RunRecord | None
    ) -> None:
        """In one transaction: queue `items` (an item already queued is skipped) and mark the
        message done with its run record."""
        ...

    async def due(self, output: str, *, now: float, limit: int = 500) -> list[Delivery]:
        """For each target of `output`, its OLDEST pending delivery when that one is due
        (`next_at <= now`): a later reply never overtakes an earlier one."""
        ...

    async def update(
        self,
        delivery_id: int,
        *,
        status: DeliveryStatus,
        attempts: int,
        next_at: float = 0.0,
        error: str | None = None,
    ) -> None:
        """Record a delivery attempt: delivered, pending again at `next_at`, or failed."""
        ...

    async def counts(self) -> dict[str, int]:
        """How many messages are pending and deliveries pending / delivered / failed (for
        status pages and tests): keys `inbox_pending`, `outbox_pending`, `delivered`,
        `failed`."""
        ...


def delivery_key(item: OutboxItem) -> str:
    """The idempotency key of an outbox item: the same for the same reply part, always."""
    import hashlib

    raw = "\x1f".join((item.output, item.target, *item.inbound_key, str(item.part)))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
