"""The SQLite session store's schema, its versions and the migration between them.

Version 2 (this agenthost's):

- `sessions.sid` is the session's integer id (AUTOINCREMENT: never reused, so a session deleted
  and created again under the same key gets another sid). The row holds the session-scope
  state, `created_at`, and `updated_at` as of the row's last write (the create, a change of
  session-scope state): appending events does NOT write the session row.
- `events.pk` is `sid << 32 | seq`, the table's rowid: one B-tree, no separate key index, and a
  session's events are the rowid range `[sid << 32, sid << 32 | 0xFFFFFFFF]`. `stored_at` is
  when the event was written. So a session's last update is the newer of its row's
  `updated_at` and its last event's `stored_at`, its last seq the range's max, and its event
  count max - min + 1 (seqs are contiguous; trimming removes the oldest).

Version 1 keyed events by (app, user_id, session_id, seq) with a separate primary-key index,
and every append updated the session row (`updated_at`, `last_seq`, `event_count`): two more
B-trees written a commit. `migrate_1_to_2` rebuilds both tables in ONE transaction (a crash or
`kill -9` mid-way leaves the version 1 file untouched: SQLite rolls the transaction back on the
next open), run by `agenthost db upgrade`, or at open for the default file under the home
directory (sqlite.py, docs/stores.md).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from agenthost.core.errors import StoreError

SCHEMA_VERSION: Final = 2
SEQ_BITS: Final = 32
SEQ_MASK: Final = (1 << SEQ_BITS) - 1

_SHARED: Final = (
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

_SESSIONS_V2: Final = """CREATE TABLE IF NOT EXISTS {name} (
        sid INTEGER PRIMARY KEY AUTOINCREMENT,
        app TEXT NOT NULL,
        user_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        state BLOB NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (app, user_id, session_id)
    )"""

_EVENTS_V2: Final = """CREATE TABLE IF NOT EXISTS {name} (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        invocation_id TEXT NOT NULL,
        type TEXT NOT NULL,
        timestamp REAL NOT NULL,
        stored_at REAL NOT NULL,
        data BLOB NOT NULL
    )"""

SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    _SESSIONS_V2.format(name="sessions"),
    _EVENTS_V2.format(name="events"),
    *_SHARED,
)

# The rebuild of version 1's two tables (the shared-state and kv tables did not change).
# Migrated events get `stored_at` = their timestamp, never later than the session's v1
# `updated_at`, which the session row keeps: every session's last update stays what it was.
_MIGRATE_1_TO_2: Final = (
    _SESSIONS_V2.format(name="sessions_v2"),
    "INSERT INTO sessions_v2 (sid, app, user_id, session_id, state, created_at, updated_at) "
    "SELECT sid, app, user_id, session_id, state, created_at, updated_at FROM sessions",
    _EVENTS_V2.format(name="events_v2"),
    "INSERT INTO events_v2 (pk, id, invocation_id, type, timestamp, stored_at, data) "
    f"SELECT (s.sid << {SEQ_BITS}) | e.seq, e.id, e.invocation_id, e.type, e.timestamp, "
    "min(e.timestamp, s.updated_at), e.data FROM events e JOIN sessions s "
    "ON s.app = e.app AND s.user_id = e.user_id AND s.session_id = e.session_id",
    # AUTOINCREMENT's high-water mark: a sid deleted in version 1 is not handed out again
    "DELETE FROM sqlite_sequence WHERE name = 'sessions_v2'",
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'sessions_v2', max("
    "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'sessions'), 0), "
    "coalesce((SELECT max(sid) FROM sessions_v2), 0))",
    "DROP TABLE events",
    "DROP TABLE sessions",
    "ALTER TABLE sessions_v2 RENAME TO sessions",
    "ALTER TABLE events_v2 RENAME TO events",
    "DELETE FROM schema_version",
    "INSERT INTO schema_version (version) VALUES (2)",
)

MIGRATIONS: Final = {2: _MIGRATE_1_TO_2}  # version reached: its statements


# The store's own tables, and the columns of each version's two rebuilt ones: how a file whose
# version row is missing is recognised, and what its tables look like (`unversioned`).
TABLES: Final = ("sessions", "events", "app_state", "user_state", "kv")
_V2_SESSIONS: Final = ("sid", "app", "user_id", "session_id", "state", "created_at", "updated_at")
_COLUMNS: Final = {
    1: {
        "sessions": (*_V2_SESSIONS, "last_seq", "event_count"),
        "events": (
            "app",
            "user_id",
            "session_id",
            "seq",
            "id",
            "invocation_id",
            "type",
            "timestamp",
            "data",
        ),
    },
    2: {
        "sessions": _V2_SESSIONS,
        "events": ("pk", "id", "invocation_id", "type", "timestamp", "stored_at", "data"),
    },
}


def file_version(conn: sqlite3.Connection, path: str) -> int | None:
    """The schema version of the open database; None when it has none of the store's tables
    (a new file, or one only other stores use). A StoreError when it has some of them but no
    version row: agenthost always writes both in one transaction, so the row was removed or
    the tables are someone else's, and creating the schema over them would only mislabel them.
    """
    names = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if "schema_version" in names:
        version = _recorded(conn, path)
        if version is not None:
            return version
    found = [name for name in TABLES if name in names]
    if found:
        raise unversioned(conn, path, found)
    return None


def _recorded(conn: sqlite3.Connection, path: str) -> int | None:
    """The version in the schema_version table; a StoreError when the table is another
    program's (another migration tool's of the same name: no `version` column, or versions
    like '1.2' that are not agenthost's whole numbers)."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(schema_version)")]
    version = (
        conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if "version" in columns
        else "no version column"
    )
    if version is None or (isinstance(version, int) and not isinstance(version, bool)):
        return version
    raise StoreError(
        f"SQLite database {path!r} has a schema_version table that is not agenthost's (found "
        f"{version!r}, agenthost writes a whole number): another program uses this file. "
        f"agenthost changes nothing in it. Use another file for the session store."
    )


def _looks_like(conn: sqlite3.Connection) -> int | None:
    """The version whose sessions and events columns the file's tables have, if one does."""
    columns = {
        table: tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
        for table in ("sessions", "events")
    }
    return next((v for v, known in _COLUMNS.items() if known == columns), None)


def unversioned(conn: sqlite3.Connection, path: str, found: list[str]) -> StoreError:
    """The refusal of a file with the store's tables and no schema version, saying what to do."""
    tables = ", ".join(found)
    what = f"SQLite database {path!r} has session store tables ({tables}) but no schema version"
    shape = _looks_like(conn)
    if shape is None:
        return StoreError(
            f"{what}, and they are not the tables of any agenthost version: another program's, "
            f"or damaged. agenthost changes nothing in it. Use another file for the store, or "
            f"restore this one from a backup."
        )
    return StoreError(
        f"{what} (its row in schema_version is missing); agenthost changes nothing in it. "
        f"Restore the file from a backup, or, if agenthost wrote these tables (they have "
        f"version {shape}'s columns), record their version and upgrade: `sqlite3 {path} "
        f'"CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL); '
        f'INSERT INTO schema_version VALUES ({shape})"`, then `agenthost db upgrade`.'
    )


def read_version(conn: sqlite3.Connection, path: str) -> int | None:
    """`file_version` in one read transaction, which writes nothing: a file refused here is
    left exactly as it was (bytes and journal mode: the store and `upgrade_file` switch to WAL
    only after this, a refusal must not leave another program's file in WAL mode)."""
    conn.execute("BEGIN")
    try:
        return file_version(conn, path)
    finally:
        if conn.in_transaction:  # some errors (SQLITE_FULL, an I/O error) roll it back
            conn.execute("ROLLBACK")


def migrate(conn: sqlite3.Connection, current: int) -> list[int]:
    """Bring the database from `current` to SCHEMA_VERSION inside the caller's transaction
    (BEGIN IMMEDIATE ... COMMIT: all steps or none); the versions applied."""
    applied = []
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
        applied.append(version)
    return applied


def create(conn: sqlite3.Connection) -> None:
    """The current schema, in a database without one (inside the caller's transaction)."""
    for statement in SCHEMA:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))


def make_directory(path: str) -> None:
    """Create the directory that will hold the file at `path`, or say why it cannot."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"Cannot create the directory {str(parent)!r} for the SQLite database {path!r}: "
            f"{exc.strerror or exc}. Create it (writable by the user agenthost runs as), or "
            f"choose another path for the store."
        ) from exc


def version_of_file(path: str, timeout: float) -> int:
    """The schema version of the file at `path` (0: no file, or none of the store's tables; a
    StoreError, as at open, when it has some of them but no version)."""
    if not Path(path).exists():
        return 0
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        return read_version(conn, path) or 0
    finally:
        conn.close()


def upgrade_file(path: str, timeout: float) -> list[int]:
    """`agenthost db upgrade` for one file: create or migrate its schema in one transaction;
    the versions applied. A file newer than this agenthost is left alone (its store refuses
    to open it); one with the store's tables but no version is refused (`unversioned`), and
    either is left exactly as it was."""
    make_directory(path)
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        version = read_version(conn, path)  # a refusal before anything is written
        if version is not None and version >= SCHEMA_VERSION:
            return []
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = file_version(conn, path)  # again: another process may have written
            applied: list[int] = []
            if version is None:
                create(conn)
            elif version < SCHEMA_VERSION:
                applied = migrate(conn, version)
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
    finally:
        conn.close()
    return applied
