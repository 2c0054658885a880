"""Session key and session record."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import msgspec

from agenthost.core.events import Event


class SessionKey(NamedTuple):
    app: str
    user_id: str
    session_id: str


class Session(msgspec.Struct, kw_only=True):
    """A conversation: its events (oldest first) and its state, all scopes merged
    (`app:`/`user:` keys prefixed, session keys bare)."""

    app: str
    user_id: str
    id: str
    state: dict[str, Any] = msgspec.field(default_factory=dict)
    events: list[Event] = msgspec.field(default_factory=list)
    created_at: float = msgspec.field(default_factory=time.time)
    updated_at: float = msgspec.field(default_factory=time.time)

    @property
    def key(self) -> SessionKey:
        return SessionKey(self.app, self.user_id, self.id)

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0


class SessionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A session without its events, for listings."""

    app: str
    user_id: str
    id: str
    created_at: float
    updated_at: float
    event_count: int
