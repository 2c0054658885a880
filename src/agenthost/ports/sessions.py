"""The session store port (four core methods plus list and delete).

Backends: memory, SQLite (default), and later Postgres/MySQL/Redis. One contract test suite
(tests/contract/test_session_store.py) runs against every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from agenthost.core.events import Event
from agenthost.core.session import Session, SessionInfo, SessionKey


@runtime_checkable
class SessionStore(Protocol):
    """Where sessions live.

    - `get` returns the session with all its events and its merged state, or None (also when it
      expired by TTL). The returned object may be cached by the store and stays valid for
      `append`.
    - `create` makes a new empty session (error if it exists).
    - `append` stores events atomically, in order: it assigns each event's `seq`, applies their
      `state_delta` to the app/user/session scopes (never `temp:`), and updates `session` in
      place (events appended, state merged). Partial events must not be passed.
    - `list` gives the sessions of one user of one app, newest first.
    - `delete` removes a session and its events (no error if missing).

    Optional (looked up with `getattr`, so a store without it still fits): `async def check()
    -> None`, the readiness check, which raises `agenthost.core.errors.StoreError` saying why
    the store is unusable (closed, unreachable, its file deleted or replaced, damaged).
    A store that cannot write raises StoreError from `append`: it never reports events stored
    that are not.
    """

    async def get(self, key: SessionKey) -> Session | None: ...

    async def create(self, key: SessionKey, *, state: dict[str, Any] | None = None) -> Session: ...

    async def append(self, session: Session, events: Sequence[Event]) -> None: ...

    async def list(self, *, app: str, user_id: str) -> list[SessionInfo]: ...

    async def delete(self, key: SessionKey) -> None: ...

    async def __aenter__(self) -> SessionStore: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class KeyValueStore(Protocol):
    """Agent storage: a JSON-value key/value space per namespace (e.g. one per agent)."""

    async def kv_get(self, namespace: str, key: str) -> Any | None: ...

    async def kv_set(self, namespace: str, key: str, value: Any) -> None: ...

    async def kv_delete(self, namespace: str, key: str) -> None: ...

    async def kv_keys(self, namespace: str) -> list[str]: ...
