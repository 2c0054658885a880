"""In-memory session store: for tests, demos and one-off runs; everything is lost at exit.

`get` returns the store's own `Session` object (not a copy), the same one every time, and
`append` updates it in place; treat it as read-only and change state through events. `app:` and
`user:` state live once per app / per user and are merged into a session's `state` by `get`.
Events and state values are kept as given (no JSON round trip; KV values are stored as JSON),
but what JSON cannot hold is refused, as a persistent store would refuse it.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import msgspec

from agenthost.backends.sessions._common import (
    Clock,
    StoreOptions,
    apply_batch,
    check_events,
    check_key,
    check_kv,
    decode_json,
    encode_events,
    encode_json,
    initial_state,
    prepare_batch,
    session_exists_error,
)
from agenthost.core import serde
from agenthost.core.errors import ConfigError, SessionNotFound
from agenthost.core.events import Event
from agenthost.core.session import Session, SessionInfo, SessionKey
from agenthost.core.state import apply_delta, merge_state


def _check_encodable(events: list[Event]) -> None:
    """What `encode_events` refuses, refused the same way, in one encoder call for the
    batch (the bytes are not kept)."""
    try:
        serde.encode(events)
    except (TypeError, ValueError, OverflowError):
        encode_events(events)  # raises the InvalidArgument naming what JSON cannot hold
        raise


class _Record(msgspec.Struct):
    session: Session
    own: dict[str, Any]  # the session scope only
    last_seq: int
    state_version: int  # the store's state version `session.state` was merged at
    order: int  # creation order, breaks ties in list()


class MemorySessionStore:
    """Sessions, state and KV values in dicts of this process."""

    def __init__(
        self,
        *,
        max_events: int | None = None,
        ttl_seconds: float | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._options = StoreOptions(max_events=max_events, ttl_seconds=ttl_seconds, clock=clock)
        self._sessions: dict[SessionKey, _Record] = {}
        self._app_state: dict[str, dict[str, Any]] = {}
        self._user_state: dict[tuple[str, str], dict[str, Any]] = {}
        self._state_version = 0  # bumped by every app:/user: change
        self._created = 0
        self._kv: dict[str, dict[str, bytes]] = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemorySessionStore:
        """`memory://` (nothing after the scheme)."""
        scheme, sep, rest = url.partition("://")
        if scheme.lower() != "memory" or not sep or rest.strip("/"):
            raise ConfigError(
                f"Bad memory store URL {url!r}: write it as 'memory://' (it takes no path)."
            )
        return cls(**options)

    async def open(self) -> Self:
        return self

    async def aclose(self) -> None:
        return None

    async def check(self) -> None:
        """Readiness: always fine (nothing to reach, nothing to damage)."""
        return None

    async def ping(self) -> None:
        """The older name of `check()`."""
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- sessions -----------------------------------------------------------------------

    def _live(self, key: SessionKey) -> _Record | None:
        record = self._sessions.get(key)
        if record is None:
            return None
        options = self._options
        if options.ttl_seconds is not None and options.is_expired(
            record.session.updated_at, options.clock()
        ):
            return None
        return record

    def _refresh_state(self, record: _Record) -> None:
        session = record.session
        merged = merge_state(
            self._app_state.get(session.app, {}),
            self._user_state.get((session.app, session.user_id), {}),
            record.own,
        )
        session.state.clear()
        session.state.update(merged)
        record.state_version = self._state_version

    def _apply_shared(
        self, app: str, user_id: str, app_delta: dict[str, Any], user_delta: dict[str, Any]
    ) -> None:
        if app_delta:
            apply_delta(self._app_state.setdefault(app, {}), app_delta)
        if user_delta:
            apply_delta(self._user_state.setdefault((app, user_id), {}), user_delta)
        if app_delta or user_delta:
            self._state_version += 1

    async def get(self, key: SessionKey) -> Session | None:
        record = self._live(key)
        if record is None:
            return None
        if record.state_version != self._state_version:
            self._refresh_state(record)
        return record.session

    async def create(self, key: SessionKey, *, state: dict[str, Any] | None = None) -> Session:
        key = SessionKey(*key)
        check_key(key)
        return self._create(key, state)

    def _create(self, key: SessionKey, state: dict[str, Any] | None) -> Session:
        """`create` once `key` is a checked SessionKey."""
        if self._live(key) is not None:
            raise session_exists_error(key)
        app_delta, user_delta, own = initial_state(state)
        if state is not None:  # (None is JSON)
            encode_json("state", state)
        now = self._options.clock()
        self._apply_shared(key.app, key.user_id, app_delta, user_delta)
        self._created += 1
        session = Session(
            app=key.app, user_id=key.user_id, id=key.session_id, created_at=now, updated_at=now
        )
        record = _Record(
            session=session,
            own={k: v for k, v in own.items() if v is not None},
            last_seq=0,
            state_version=-1,
            order=self._created,
        )
        self._refresh_state(record)
        self._sessions.pop(key, None)  # an expired one
        self._sessions[key] = record
        return session

    async def create_with_events(self, key: SessionKey, events: Sequence[Event]) -> Session:
        """Create the session with its first events, all or nothing (as SQLite's does)."""
        key = SessionKey(*key)
        check_key(key)
        check_events(events, key)
        session = self._create(key, None)
        try:
            self._append(session, key, events)
        except BaseException:
            self._sessions.pop(key, None)
            raise
        return session

    async def append(self, session: Session, events: Sequence[Event]) -> None:
        key = session.key
        check_events(events, key)
        self._append(session, key, events)

    def _append(self, session: Session, key: SessionKey, events: Sequence[Event]) -> None:
        """`append` once the events are checked (`check_events`) against `key`."""
        if not events:
            return
        record = self._live(key)
        if record is None:
            raise SessionNotFound(session.id)
        batch = prepare_batch(events, record.last_seq)
        _check_encodable(batch.events)  # refuse what a real store could not hold, as it would
        now = self._options.clock()
        current = record.state_version == self._state_version
        self._apply_shared(session.app, session.user_id, batch.app_delta, batch.user_delta)
        if batch.session_delta:
            apply_delta(record.own, batch.session_delta)
        stored = record.session
        apply_batch(stored, batch, now=now, max_events=self._options.max_events)
        if current:  # else get() merges the state again anyway
            record.state_version = self._state_version
        if session is not stored:
            apply_batch(session, batch, now=now, max_events=self._options.max_events)
        record.last_seq = batch.last_seq

    async def list(self, *, app: str, user_id: str) -> list[SessionInfo]:
        options = self._options
        now = options.clock()
        records = [
            r
            for key, r in self._sessions.items()
            if key.app == app
            and key.user_id == user_id
            and not options.is_expired(r.session.updated_at, now)
        ]
        records.sort(key=lambda r: (r.session.updated_at, r.order), reverse=True)
        return [
            SessionInfo(
                app=r.session.app,
                user_id=r.session.user_id,
                id=r.session.id,
                created_at=r.session.created_at,
                updated_at=r.session.updated_at,
                event_count=len(r.session.events),
            )
            for r in records
        ]

    async def delete(self, key: SessionKey) -> None:
        self._sessions.pop(SessionKey(*key), None)

    async def purge_expired(self) -> int:
        """Delete every expired session; returns how many."""
        options = self._options
        if options.ttl_seconds is None:
            return 0
        now = options.clock()
        expired = [
            key
            for key, r in self._sessions.items()
            if options.is_expired(r.session.updated_at, now)
        ]
        for key in expired:
            del self._sessions[key]
        return len(expired)

    # ---- key/value ----------------------------------------------------------------------

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        check_kv(namespace, key)
        raw = self._kv.get(namespace, {}).get(key)
        return None if raw is None else decode_json(raw)

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value; None deletes the key."""
        check_kv(namespace, key)
        if value is None:
            await self.kv_delete(namespace, key)
            return
        self._kv.setdefault(namespace, {})[key] = encode_json("value", value)

    async def kv_delete(self, namespace: str, key: str) -> None:
        check_kv(namespace, key)
        space = self._kv.get(namespace)
        if space is not None:
            space.pop(key, None)
            if not space:
                del self._kv[namespace]

    async def kv_keys(self, namespace: str) -> builtins.list[str]:
        check_kv(namespace)
        return sorted(self._kv.get(namespace, {}))
