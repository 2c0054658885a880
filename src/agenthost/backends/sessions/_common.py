"""What every session store does the same way: options, validation, applying a batch.

A store calls `check_events` and `prepare_batch` before it writes (seq numbers, `temp:` keys
dropped, the net state delta per scope) and `apply_batch` after the write succeeded, to update
the `Session` objects it hands out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from agenthost.core import serde
from agenthost.core.errors import ConfigError, InvalidArgument, SessionExists
from agenthost.core.events import Event
from agenthost.core.session import Session, SessionKey
from agenthost.core.state import APP_PREFIX, TEMP_PREFIX, USER_PREFIX, apply_delta, split_delta

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreOptions:
    """Options every backend accepts.

    - `max_events`: keep only the newest N events of a session; older ones are deleted when an
      append goes past the limit. None keeps everything.
    - `ttl_seconds`: a session not updated for this long is expired: `get` returns None, `list`
      omits it, `append` raises SessionNotFound, `create` may reuse its key, and
      `purge_expired()` deletes it. None never expires.
    - `clock`: where "now" comes from (seconds, like `time.time`); tests pass a fake one.
    """

    max_events: int | None = None
    ttl_seconds: float | None = None
    clock: Clock = time.time

    def __post_init__(self) -> None:
        if self.max_events is not None and (
            isinstance(self.max_events, bool)
            or not isinstance(self.max_events, int)
            or self.max_events < 1
        ):
            raise InvalidArgument(
                "max_events", f"must be a positive integer or None, got {self.max_events!r}"
            )
        if self.ttl_seconds is not None and (
            isinstance(self.ttl_seconds, bool)
            or not isinstance(self.ttl_seconds, int | float)
            or self.ttl_seconds <= 0
        ):
            raise InvalidArgument(
                "ttl_seconds",
                f"must be a positive number of seconds or None, got {self.ttl_seconds!r}",
            )
        if not callable(self.clock):
            raise InvalidArgument(
                "clock", f"must be a callable returning seconds, got {self.clock!r}"
            )

    def is_expired(self, updated_at: float, now: float) -> bool:
        return self.ttl_seconds is not None and now - updated_at > self.ttl_seconds

    def cutoff(self, now: float) -> float | None:
        """Sessions updated before this instant are expired (None: nothing expires)."""
        return None if self.ttl_seconds is None else now - self.ttl_seconds


def check_key(key: SessionKey) -> None:
    for field, value in zip(("app", "user_id", "session_id"), key, strict=True):
        if not isinstance(value, str) or not value:
            raise InvalidArgument(field, f"must be a non-empty string, got {value!r}")


@dataclass(slots=True)
class Batch:
    """A validated batch of events, ready to store.

    `events` are what is stored and put into the session (seq assigned, `temp:` keys removed
    from `state_delta`: a copy when the caller's event had any, else the caller's own object).
    The deltas are the net change per scope (prefixes removed; None deletes the key).
    """

    events: list[Event]
    first_seq: int
    last_seq: int
    app_delta: dict[str, Any]
    user_delta: dict[str, Any]
    session_delta: dict[str, Any]

    @property
    def has_state(self) -> bool:
        return bool(self.app_delta or self.user_delta or self.session_delta)

    def merged_delta(self) -> dict[str, Any]:
        """The net delta as a flat, prefixed dict (as applied to `Session.state`)."""
        delta = dict(self.session_delta)
        delta.update({APP_PREFIX + k: v for k, v in self.app_delta.items()})
        delta.update({USER_PREFIX + k: v for k, v in self.user_delta.items()})
        return delta


def check_events(events: Sequence[Event], key: SessionKey) -> None:
    """Only complete events of this session are stored: anything else is a caller bug.

    An event's `app`/`user_id`/`session_id` may be empty; when set they must match `key`.
    """
    for index, event in enumerate(events):
        if not isinstance(event, Event):
            raise InvalidArgument(
                f"events[{index}]", f"must be an agenthost Event, got {type(event).__name__}"
            )
        if event.partial:
            raise InvalidArgument(
                f"events[{index}]",
                f"event {event.id!r} ({event.type}) is partial; partial events are streamed, "
                f"never stored. Append only the completed event.",
            )
        if (
            (event.app and event.app != key.app)
            or (event.user_id and event.user_id != key.user_id)
            or (event.session_id and event.session_id != key.session_id)
        ):
            raise InvalidArgument(
                f"events[{index}]",
                f"event {event.id!r} belongs to {event.app}/{event.user_id}/{event.session_id}, "
                f"not to session {key.app}/{key.user_id}/{key.session_id} it was appended to.",
            )


def prepare_batch(events: Sequence[Event], last_seq: int) -> Batch:
    """Number the events after `last_seq` and compute the net state delta of the batch.

    The caller's events get their `seq` assigned in place. Call `check_events` first.
    """
    stored: list[Event] = []
    app: dict[str, Any] = {}
    user: dict[str, Any] = {}
    session: dict[str, Any] = {}
    seq = last_seq
    for event in events:
        seq += 1
        event.seq = seq
        delta = event.state_delta
        if delta:
            if any(k.startswith(TEMP_PREFIX) for k in delta):
                kept = {k: v for k, v in delta.items() if not k.startswith(TEMP_PREFIX)}
                event = msgspec.structs.replace(event, state_delta=kept or None)
                delta = kept
            a, u, s = split_delta(delta)
            app.update(a)
            user.update(u)
            session.update(s)
        stored.append(event)
    return Batch(
        events=stored,
        first_seq=last_seq + 1,
        last_seq=seq,
        app_delta=app,
        user_delta=user,
        session_delta=session,
    )


def apply_batch(session: Session, batch: Batch, *, now: float, max_events: int | None) -> None:
    """Update a Session object after its batch was stored: events, state, updated_at, limit."""
    session.events.extend(batch.events)
    if max_events is not None and len(session.events) > max_events:
        del session.events[: len(session.events) - max_events]
    if batch.has_state:
        apply_delta(session.state, batch.merged_delta())
    session.updated_at = now


def initial_state(
    state: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split `create(state=...)` into (app, user, session) parts; temp dropped, None deletes."""
    if state is None:
        return {}, {}, {}
    if not isinstance(state, Mapping):
        raise InvalidArgument("state", f"must be a dict, got {type(state).__name__}")
    for key in state:
        if not isinstance(key, str):
            raise InvalidArgument("state", f"keys must be strings, got {key!r}")
    return split_delta(state)


_json_decoder = msgspec.json.Decoder()
_json_encoder = msgspec.json.Encoder()


def encode_json(field: str, value: Any) -> bytes:
    """JSON bytes of a state or KV value; a value JSON cannot hold is an InvalidArgument."""
    try:
        return _json_encoder.encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgument(
            field, f"must be JSON-serializable (str, int, float, bool, None, list, dict): {exc}"
        ) from exc


ENCODE_ERRORS = (TypeError, ValueError, OverflowError)  # what msgspec raises for a bad value


def unencodable_events(exc: Exception) -> InvalidArgument:
    """The error for events holding a value JSON cannot store (`exc`: one of ENCODE_ERRORS)."""
    return InvalidArgument(
        "events",
        f"an event holds a value JSON cannot store (look at its `data` and `state_delta`): {exc}",
    )


def encode_events(events: Sequence[Event]) -> list[bytes]:
    """Each event as msgspec JSON (core/serde.py); an unencodable value is an InvalidArgument."""
    try:
        return [serde.encode(event) for event in events]
    except ENCODE_ERRORS as exc:
        raise unencodable_events(exc) from exc


def decode_json(data: bytes) -> Any:
    return _json_decoder.decode(data)


def check_kv(namespace: str, key: str | None = None) -> None:
    if not isinstance(namespace, str) or not namespace:
        raise InvalidArgument("namespace", f"must be a non-empty string, got {namespace!r}")
    if key is not None and not isinstance(key, str):
        raise InvalidArgument("key", f"must be a string, got {key!r}")


def session_exists_error(key: SessionKey) -> SessionExists:
    return SessionExists(key.app, key.user_id, key.session_id)


def store_not_open_error(name: str) -> ConfigError:
    return ConfigError(
        f"The {name} is not open (or was closed). Use it as "
        f"'async with open_session_store(url) as store:' or await store.open() first.",
    )
