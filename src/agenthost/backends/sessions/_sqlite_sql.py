"""The SQLite store's schema and statements (kept apart so sqlite.py reads as logic).

Events are msgspec JSON blobs (core/serde.py) with their key columns beside them; `app:` and
`user:` state are one row per key, so concurrent writers of different keys never clobber each
other; session-scope state is one JSON object on the session row. `sessions.sid` is never
reused (AUTOINCREMENT), which tells a re-created session apart from the one cached.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1

SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS sessions (
        sid INTEGER PRIMARY KEY AUTOINCREMENT,
        app TEXT NOT NULL,
        user_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        state BLOB NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        last_seq INTEGER NOT NULL,
        event_count INTEGER NOT NULL,
        UNIQUE (app, user_id, session_id)
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        app TEXT NOT NULL,
        user_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        invocation_id TEXT NOT NULL,
        type TEXT NOT NULL,
        timestamp REAL NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (app, user_id, session_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS app_state (
        app TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (app, key)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS user_state (
        app TEXT NOT NULL,
        user_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (app, user_id, key)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS kv (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID""",
)

WHERE_KEY: Final = "app = ? AND user_id = ? AND session_id = ?"
SELECT_SESSION: Final = f"SELECT sid, state, created_at, updated_at FROM sessions WHERE {WHERE_KEY}"
SELECT_EVENTS: Final = f"SELECT data FROM events WHERE {WHERE_KEY} ORDER BY seq"
SELECT_EVENTS_AFTER: Final = f"SELECT data FROM events WHERE {WHERE_KEY} AND seq > ? ORDER BY seq"
SELECT_REFRESH: Final = (
    "SELECT sid, state, updated_at, last_seq, (SELECT min(seq) FROM events e WHERE "
    "e.app = s.app AND e.user_id = s.user_id AND e.session_id = s.session_id) "
    f"FROM sessions s WHERE {WHERE_KEY}"
)
# has run ? (invocation_id) of the session a terminal event stored? (recovery: close_run)
RUN_ENDED: Final = (
    f"SELECT 1 FROM events WHERE {WHERE_KEY} AND invocation_id = ? "
    "AND type IN ('run.completed', 'run.failed', 'run.interrupted') LIMIT 1"
)
SELECT_FOR_APPEND: Final = (
    f"SELECT state, updated_at, last_seq, event_count FROM sessions WHERE {WHERE_KEY}"
)
INSERT_SESSION: Final = (
    "INSERT INTO sessions (app, user_id, session_id, state, created_at, updated_at, last_seq, "
    "event_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_EVENT: Final = (
    "INSERT INTO events (app, user_id, session_id, seq, id, invocation_id, type, timestamp, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
TRIM_EVENTS: Final = f"DELETE FROM events WHERE {WHERE_KEY} AND seq <= ?"
UPDATE_SESSION: Final = (
    "UPDATE sessions SET last_seq = ?, updated_at = ?, event_count = event_count + ? "
    f"WHERE {WHERE_KEY}"
)
UPDATE_SESSION_STATE: Final = (
    "UPDATE sessions SET last_seq = ?, updated_at = ?, event_count = event_count + ?, state = ? "
    f"WHERE {WHERE_KEY}"
)
UPSERT_APP: Final = (
    "INSERT INTO app_state (app, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (app, key) DO UPDATE SET value = excluded.value"
)
UPSERT_USER: Final = (
    "INSERT INTO user_state (app, user_id, key, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value"
)
