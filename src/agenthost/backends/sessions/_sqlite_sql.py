"""The SQLite store's statements, schema version 2 (kept apart so sqlite.py reads as logic;
the DDL and the migration are in `_sqlite_schema.py`).

Events are msgspec JSON blobs (core/serde.py) keyed by `pk = sid << 32 | seq`; a session's
events are the pk range `[sid << 32, sid << 32 | 0xFFFFFFFF]` (`?` pairs below take the two
ends: `event_range(sid)`). `app:` and `user:` state are one row per key, so concurrent writers
of different keys never clobber each other; session-scope state is one JSON object on the
session row. What version 1 kept on the session row and rewrote on every append (last update,
last seq, event count) is derived from the session's first and last events.
"""

from __future__ import annotations

from typing import Final

from agenthost.backends.sessions._sqlite_schema import SEQ_BITS, SEQ_MASK

WHERE_KEY: Final = "app = ? AND user_id = ? AND session_id = ?"

# the events of the session row `s` (in a query over sessions s)
_RANGE: Final = f"pk BETWEEN s.sid << {SEQ_BITS} AND (s.sid << {SEQ_BITS}) | {SEQ_MASK}"
_LAST_PK: Final = f"(SELECT pk FROM events WHERE {_RANGE} ORDER BY pk DESC LIMIT 1)"
_FIRST_PK: Final = f"(SELECT pk FROM events WHERE {_RANGE} ORDER BY pk LIMIT 1)"
_LAST_SEQ: Final = f"coalesce({_LAST_PK} & {SEQ_MASK}, 0)"
_FIRST_SEQ: Final = f"{_FIRST_PK} & {SEQ_MASK}"  # NULL: no events
# the session's last update: its row's, or its last event's when that is newer
UPDATED: Final = (
    "max(s.updated_at, coalesce((SELECT stored_at FROM events WHERE "
    f"{_RANGE} ORDER BY pk DESC LIMIT 1), 0))"
)

SELECT_SESSION: Final = (
    f"SELECT sid, state, created_at, {UPDATED} FROM sessions s WHERE {WHERE_KEY}"
)
SELECT_EVENTS: Final = "SELECT data FROM events WHERE pk BETWEEN ? AND ? ORDER BY pk"
SELECT_EVENTS_AFTER: Final = SELECT_EVENTS  # the range starts after the cached last seq
SELECT_REFRESH: Final = (
    f"SELECT sid, created_at, state, {UPDATED}, {_LAST_SEQ}, {_FIRST_SEQ} "
    f"FROM sessions s WHERE {WHERE_KEY}"
)
SELECT_FOR_APPEND: Final = (
    f"SELECT sid, state, {UPDATED}, {_LAST_SEQ}, {_FIRST_SEQ} FROM sessions s WHERE {WHERE_KEY}"
)
SELECT_SID: Final = f"SELECT sid FROM sessions WHERE {WHERE_KEY}"
SELECT_UPDATED: Final = f"SELECT {UPDATED} FROM sessions s WHERE {WHERE_KEY}"
SELECT_EXPIRED: Final = f"SELECT sid FROM sessions s WHERE {UPDATED} < ?"
# sessions of one user, newest first: id, created_at, last update, event count
LIST: Final = (
    "SELECT session_id, created_at, updated, coalesce(last - first + 1, 0) FROM ("
    f"SELECT s.sid, s.session_id, s.created_at, {UPDATED} AS updated, "
    f"{_LAST_PK} AS last, {_FIRST_PK} AS first "
    "FROM sessions s WHERE app = ? AND user_id = ?) "
)
LIST_ORDER: Final = "ORDER BY updated DESC, sid DESC"
# has run ? (invocation_id) of the session a terminal event stored? (recovery: close_run)
RUN_ENDED: Final = (
    "SELECT 1 FROM events WHERE pk BETWEEN ? AND ? AND invocation_id = ? "
    "AND type IN ('run.completed', 'run.failed', 'run.interrupted') LIMIT 1"
)
INSERT_SESSION: Final = (
    "INSERT INTO sessions (app, user_id, session_id, state, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
INSERT_EVENT: Final = (
    "INSERT INTO events (pk, id, invocation_id, type, timestamp, stored_at, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
DELETE_EVENTS: Final = "DELETE FROM events WHERE pk BETWEEN ? AND ?"
DELETE_SESSION: Final = "DELETE FROM sessions WHERE sid = ?"
UPDATE_SESSION_STATE: Final = "UPDATE sessions SET state = ?, updated_at = ? WHERE sid = ?"
UPSERT_APP: Final = (
    "INSERT INTO app_state (app, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (app, key) DO UPDATE SET value = excluded.value"
)
UPSERT_USER: Final = (
    "INSERT INTO user_state (app, user_id, key, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value"
)


def event_range(sid: int, first: int = 0, last: int = SEQ_MASK) -> tuple[int, int]:
    """The pk range of the session's events with `first <= seq <= last`."""
    base = sid << SEQ_BITS
    return base | first, base | last
