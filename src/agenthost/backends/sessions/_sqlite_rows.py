"""What the SQLite store writes, prepared before the write: event rows, state statements, a
create's plan; and the records of the group commit (sqlite.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from agenthost.backends.sessions import _sqlite_sql as sql
from agenthost.backends.sessions._common import (
    ENCODE_ERRORS,
    Batch,
    encode_json,
    unencodable_events,
)
from agenthost.backends.sessions._sqlite_schema import SEQ_BITS
from agenthost.core import serde
from agenthost.core.events import Event
from agenthost.core.session import Session, SessionKey


class Entry:
    """A cached session: the Session handed out, its own (session-scope) state, its row id."""

    __slots__ = ("epoch", "own", "session", "sid")

    def __init__(self, session: Session, own: dict[str, Any], sid: int, epoch: int) -> None:
        self.session = session
        self.own = own
        # sessions.sid (AUTOINCREMENT, never reused) and session.created_at: a session deleted
        # and created again under the same key is told apart by both
        self.sid = sid
        self.epoch = epoch  # the store's epoch when this entry was last known current


class CreatePlan(NamedTuple):
    """A create, ready to write: what `_write_create` and `_created` need."""

    key: SessionKey
    own: dict[str, Any]
    own_blob: bytes
    app_delta: dict[str, Any]
    user_delta: dict[str, Any]
    shared: list[tuple[str, tuple[Any, ...]]]
    batch: Batch
    blobs: list[bytes]  # the events, encoded (their rows need the sid the insert gives)
    now: float


class Pending:
    """A write waiting for its loop tick's group commit: an append, or a create (`plan`)."""

    __slots__ = ("events", "plan", "session", "waiter")

    def __init__(
        self, session: Session | None, events: Sequence[Event], plan: CreatePlan | None
    ) -> None:
        self.session = session
        self.events = events
        self.plan = plan
        self.waiter: asyncio.Future[object] = asyncio.get_running_loop().create_future()


class Written(NamedTuple):
    """One batch written in a transaction: what `_after_append` needs once it commits."""

    entry: Entry | None
    batch: Batch
    nbytes: int  # the events' JSON (`event_rows`)
    new_own: dict[str, Any] | None
    now: float


def event_rows(sid: int, events: list[Event], now: float) -> tuple[list[tuple[Any, ...]], int]:
    """The events' rows: pk (`sid << 32 | seq`), id, run, type, timestamp, stored_at, data
    (encoded here: an unencodable value is an InvalidArgument); and the bytes of their JSON
    (what the checkpoints count). One pass: this runs on every append."""
    base = sid << SEQ_BITS
    encode = serde.encode
    rows = []
    nbytes = 0
    try:
        for e in events:
            blob = encode(e)
            nbytes += len(blob)
            rows.append((base | e.seq, e.id, e.run_id, e.type, e.timestamp, now, blob))
    except ENCODE_ERRORS as exc:
        raise unencodable_events(exc) from exc
    return rows, nbytes


def blob_rows(
    sid: int, events: list[Event], now: float, blobs: list[bytes]
) -> list[tuple[Any, ...]]:
    """`event_rows` of events encoded before (a create's: its sid comes from the insert)."""
    base = sid << SEQ_BITS
    return [
        (base | e.seq, e.id, e.run_id, e.type, e.timestamp, now, blob)
        for e, blob in zip(events, blobs, strict=True)
    ]


def shared_statements(
    app: str, user_id: str, app_delta: Mapping[str, Any], user_delta: Mapping[str, Any]
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that store an app:/user: delta, values encoded (InvalidArgument here,
    before anything is written)."""
    out: list[tuple[str, tuple[Any, ...]]] = []
    for k, v in app_delta.items():
        if v is None:
            out.append(("DELETE FROM app_state WHERE app = ? AND key = ?", (app, k)))
        else:
            out.append((sql.UPSERT_APP, (app, k, encode_json(f"state['app:{k}']", v))))
    for k, v in user_delta.items():
        if v is None:
            out.append(
                (
                    "DELETE FROM user_state WHERE app = ? AND user_id = ? AND key = ?",
                    (app, user_id, k),
                )
            )
        else:
            out.append((sql.UPSERT_USER, (app, user_id, k, encode_json(f"state['user:{k}']", v))))
    return out
