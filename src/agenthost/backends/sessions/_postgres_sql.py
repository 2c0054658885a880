"""The Postgres store's migrations and statements (`{p}` is the table prefix).

Events are msgspec JSON blobs (bytea) keyed by the session row's `sid` (deleted with it);
every state scope is one row per key, so concurrent writers of different keys never clobber
each other and values round-trip byte for byte (JSONB would turn 1e300 into an integer).
"""

from __future__ import annotations

from typing import Final

from agenthost.backends.sessions._channel_sql import PG_MIGRATION
from agenthost.backends.sessions._channel_sql import TABLES as CHANNEL_TABLES
from agenthost.backends.sessions._sql_common import Migration

MIGRATIONS: Final = (
    Migration(
        1,
        "sessions, events, state scopes, key/value",
        (
            """CREATE TABLE {p}sessions (
                sid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                app text COLLATE "C" NOT NULL,
                user_id text COLLATE "C" NOT NULL,
                session_id text COLLATE "C" NOT NULL,
                created_at double precision NOT NULL,
                updated_at double precision NOT NULL,
                last_seq bigint NOT NULL,
                event_count bigint NOT NULL,
                UNIQUE (app, user_id, session_id))""",
            "CREATE INDEX {p}sessions_by_user ON {p}sessions (app, user_id, updated_at)",
            "CREATE INDEX {p}sessions_by_age ON {p}sessions (updated_at)",
            """CREATE TABLE {p}events (
                sid bigint NOT NULL REFERENCES {p}sessions (sid) ON DELETE CASCADE,
                seq bigint NOT NULL,
                id text NOT NULL,
                run_id text NOT NULL,
                type text NOT NULL,
                ts double precision NOT NULL,
                data bytea NOT NULL,
                PRIMARY KEY (sid, seq))""",
            """CREATE TABLE {p}session_state (
                sid bigint NOT NULL REFERENCES {p}sessions (sid) ON DELETE CASCADE,
                key text COLLATE "C" NOT NULL,
                value bytea NOT NULL,
                PRIMARY KEY (sid, key))""",
            """CREATE TABLE {p}app_state (
                app text COLLATE "C" NOT NULL,
                key text COLLATE "C" NOT NULL,
                value bytea NOT NULL,
                PRIMARY KEY (app, key))""",
            """CREATE TABLE {p}user_state (
                app text COLLATE "C" NOT NULL,
                user_id text COLLATE "C" NOT NULL,
                key text COLLATE "C" NOT NULL,
                value bytea NOT NULL,
                PRIMARY KEY (app, user_id, key))""",
            """CREATE TABLE {p}kv (
                namespace text COLLATE "C" NOT NULL,
                key text COLLATE "C" NOT NULL,
                value bytea NOT NULL,
                PRIMARY KEY (namespace, key))""",
        ),
    ),
    PG_MIGRATION,  # channel_inbox, channel_outbox: _channel_sql.py
    # Every append UPDATEs its session row (last_seq, updated_at, event_count). With
    # `updated_at` in no index and room left on the page (fillfactor), that is a HOT update:
    # a new row version on the same page and no index entry written, instead of a new entry
    # in all three indexes. No run-path query needs the two dropped ones (each statement's
    # plan: tests/contract/test_session_plans.py): a session is found by its unique key,
    # `list` reads one user's rows through that key's (app, user_id) prefix and sorts them,
    # and `purge_expired` (a rare sweep) scans the table. The leases table (made on first use:
    # _sql_leases.py) is updated by every acquire, renew and release: the same room.
    Migration(
        3,
        "HOT updates of sessions and leases: two indexes dropped, fillfactor 70",
        (
            "DROP INDEX IF EXISTS {p}sessions_by_user",
            "DROP INDEX IF EXISTS {p}sessions_by_age",
            "ALTER TABLE {p}sessions SET (fillfactor = 70)",
            "ALTER TABLE IF EXISTS {p}leases SET (fillfactor = 70)",
        ),
    ),
)

TABLES: Final = (
    *CHANNEL_TABLES,
    "leases",  # made on first use by _sql_leases.py
    "lease_waiters",  # likewise
    "kv",
    "user_state",
    "app_state",
    "session_state",
    "events",
    "sessions",
    "schema_migrations",
)

CREATE_MIGRATIONS: Final = (
    "CREATE TABLE IF NOT EXISTS {p}schema_migrations "
    "(version integer PRIMARY KEY, applied_at double precision NOT NULL)"
)

WHERE_KEY: Final = "app = $1 AND user_id = $2 AND session_id = $3"

SELECT_SESSION: Final = f"""
SELECT s.created_at, s.updated_at,
  ARRAY(SELECT seq FROM {{p}}events e WHERE e.sid = s.sid ORDER BY seq),
  ARRAY(SELECT data FROM {{p}}events e WHERE e.sid = s.sid ORDER BY seq),
  ARRAY(SELECT key FROM {{p}}session_state t WHERE t.sid = s.sid ORDER BY key),
  ARRAY(SELECT value FROM {{p}}session_state t WHERE t.sid = s.sid ORDER BY key),
  ARRAY(SELECT key FROM {{p}}app_state a WHERE a.app = s.app ORDER BY key),
  ARRAY(SELECT value FROM {{p}}app_state a WHERE a.app = s.app ORDER BY key),
  ARRAY(SELECT key FROM {{p}}user_state u WHERE u.app = s.app AND u.user_id = s.user_id
        ORDER BY key),
  ARRAY(SELECT value FROM {{p}}user_state u WHERE u.app = s.app AND u.user_id = s.user_id
        ORDER BY key)
FROM {{p}}sessions s WHERE {WHERE_KEY}"""

SELECT_SHARED: Final = """
SELECT ARRAY(SELECT key FROM {p}app_state WHERE app = $1 ORDER BY key),
  ARRAY(SELECT value FROM {p}app_state WHERE app = $1 ORDER BY key),
  ARRAY(SELECT key FROM {p}user_state WHERE app = $1 AND user_id = $2 ORDER BY key),
  ARRAY(SELECT value FROM {p}user_state WHERE app = $1 AND user_id = $2 ORDER BY key)"""


def _insert_events(first: int) -> str:
    """An APPEND's INSERT of the events (parameters $first to $first + 4: ids, run ids,
    types, timestamps, blobs), numbered from the seq range the UPDATE `s` handed out."""
    ids, runs, types, ts, blobs = (f"${first + i}" for i in range(5))
    return (
        "  INSERT INTO {p}events (sid, seq, id, run_id, type, ts, data)\n"
        "  SELECT s.sid, s.base + d.n, d.id, d.inv, d.type, d.ts, d.data\n"
        f"  FROM s, unnest({ids}::text[], {runs}::text[], {types}::text[], {ts}::float8[], "
        f"{blobs}::bytea[])\n"
        "    WITH ORDINALITY AS d(id, inv, type, ts, data, n)\n"
    )


# One statement, one round trip: the UPDATE locks the session row and hands out the seq
# range (atomic across processes), the rest happens only when that row exists and is alive.
APPEND: Final = (
    """
WITH s AS (
  UPDATE {p}sessions SET last_seq = last_seq + $4::bigint, updated_at = $5::float8,
    event_count = CASE WHEN $7::bigint IS NULL THEN event_count + $4::bigint
                       ELSE least(event_count + $4::bigint, $7::bigint) END
  WHERE app = $1 AND user_id = $2 AND session_id = $3
    AND ($6::float8 IS NULL OR updated_at >= $6::float8)
  RETURNING sid, last_seq - $4::bigint AS base
), ev AS (
"""
    + _insert_events(8)
    + """  WHERE $7::bigint IS NULL OR d.n > $4::bigint - $7::bigint
), trimmed AS (
  DELETE FROM {p}events e USING s
  WHERE $7::bigint IS NOT NULL AND e.sid = s.sid AND e.seq <= s.base + $4::bigint - $7::bigint
), ss_del AS (
  DELETE FROM {p}session_state t USING s WHERE t.sid = s.sid AND t.key = ANY($15::text[])
), ss_set AS (
  INSERT INTO {p}session_state (sid, key, value)
  SELECT s.sid, d.k, d.v FROM s, unnest($13::text[], $14::bytea[]) AS d(k, v)
  ON CONFLICT (sid, key) DO UPDATE SET value = excluded.value
), a_del AS (
  DELETE FROM {p}app_state
  WHERE app = $1 AND key = ANY($18::text[]) AND EXISTS (SELECT 1 FROM s)
), a_set AS (
  INSERT INTO {p}app_state (app, key, value)
  SELECT $1, d.k, d.v FROM s, unnest($16::text[], $17::bytea[]) AS d(k, v)
  ON CONFLICT (app, key) DO UPDATE SET value = excluded.value
), u_del AS (
  DELETE FROM {p}user_state
  WHERE app = $1 AND user_id = $2 AND key = ANY($21::text[]) AND EXISTS (SELECT 1 FROM s)
), u_set AS (
  INSERT INTO {p}user_state (app, user_id, key, value)
  SELECT $1, $2, d.k, d.v FROM s, unnest($19::text[], $20::bytea[]) AS d(k, v)
  ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value
)
SELECT base FROM s"""
)

DELETE_EXPIRED_ONE: Final = f"DELETE FROM {{p}}sessions WHERE {WHERE_KEY} AND updated_at < $4"
INSERT_SESSION: Final = (
    "INSERT INTO {p}sessions (app, user_id, session_id, created_at, updated_at, last_seq, "
    "event_count) VALUES ($1, $2, $3, $4, $4, 0, 0) "
    "ON CONFLICT (app, user_id, session_id) DO NOTHING RETURNING sid"
)
# `create` without initial state or TTL (the usual case): the INSERT and the shared scopes'
# read in ONE statement (one round trip, one implicit transaction) instead of BEGIN, INSERT,
# SELECT_SHARED, COMMIT. Returns (sid or NULL when the session exists, the four arrays).
CREATE_BARE: Final = f"""
WITH ins AS ({INSERT_SESSION})
SELECT (SELECT sid FROM ins),{SELECT_SHARED.removeprefix(chr(10) + "SELECT")}"""
# `create_with_events` when the events change no state and there is no TTL (the runner's new
# session and its user message): the session row (its seq range already handed out), the
# events and the shared scopes' read in ONE statement. $1-$3 key, $4 now, $5 the event count,
# $6-$10 the events. Returns (sid or NULL when the session exists, the four arrays).
CREATE_WITH_EVENTS: Final = (
    """
WITH s AS (
  INSERT INTO {p}sessions (app, user_id, session_id, created_at, updated_at, last_seq,
    event_count) VALUES ($1, $2, $3, $4, $4, $5, $5)
  ON CONFLICT (app, user_id, session_id) DO NOTHING
  RETURNING sid, 0::bigint AS base
), ev AS (
"""
    + _insert_events(6)
    + f""")
SELECT (SELECT sid FROM s),{SELECT_SHARED.removeprefix(chr(10) + "SELECT")}"""
)
# the events of a new session created by `_create_with_state` ($1 its sid, $2-$6 the events)
INSERT_FIRST_EVENTS: Final = (
    "WITH s AS (UPDATE {p}sessions SET last_seq = cardinality($2::text[]), "
    "event_count = cardinality($2::text[]) WHERE sid = $1 RETURNING sid, 0::bigint AS base)\n"
    + _insert_events(2)
)
INSERT_OWN_STATE: Final = (
    "INSERT INTO {p}session_state (sid, key, value) SELECT $1, k, v "
    "FROM unnest($2::text[], $3::bytea[]) AS d(k, v)"
)
UPSERT_APP: Final = (
    "INSERT INTO {p}app_state (app, key, value) SELECT $1, k, v "
    "FROM unnest($2::text[], $3::bytea[]) AS d(k, v) "
    "ON CONFLICT (app, key) DO UPDATE SET value = excluded.value"
)
DELETE_APP: Final = "DELETE FROM {p}app_state WHERE app = $1 AND key = ANY($2::text[])"
UPSERT_USER: Final = (
    "INSERT INTO {p}user_state (app, user_id, key, value) SELECT $1, $2, k, v "
    "FROM unnest($3::text[], $4::bytea[]) AS d(k, v) "
    "ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value"
)
DELETE_USER: Final = (
    "DELETE FROM {p}user_state WHERE app = $1 AND user_id = $2 AND key = ANY($3::text[])"
)
LIST: Final = (
    "SELECT session_id, created_at, updated_at, event_count FROM {p}sessions "
    "WHERE app = $1 AND user_id = $2 AND ($3::float8 IS NULL OR updated_at >= $3::float8) "
    "ORDER BY updated_at DESC, sid DESC"
)
DELETE_SESSION: Final = f"DELETE FROM {{p}}sessions WHERE {WHERE_KEY}"
PURGE: Final = "DELETE FROM {p}sessions WHERE updated_at < $1"
KV_GET: Final = "SELECT value FROM {p}kv WHERE namespace = $1 AND key = $2"
KV_SET: Final = (
    "INSERT INTO {p}kv (namespace, key, value) VALUES ($1, $2, $3) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value"
)
KV_DELETE: Final = "DELETE FROM {p}kv WHERE namespace = $1 AND key = $2"
KV_KEYS: Final = "SELECT key FROM {p}kv WHERE namespace = $1 ORDER BY key"


# APPEND fenced by a session lease (ports/leases.py; $22 lease name, $23 its token): nothing
# is written when the lease has a newer token. FOR SHARE holds the lease row for the
# statement, so a concurrent acquire (an UPDATE of that row) waits for this append to commit,
# or this append sees the newer token: the check and the write are one.
# Returns (base or NULL, the lease's token or NULL).
def _fenced(statement: str, name: int, token: int) -> str:
    """`statement` (an APPEND) fenced by the lease named by parameter `name` whose token is
    parameter `token`: see APPEND_FENCED."""
    return (
        statement.replace(
            "WITH s AS (",
            f"WITH fence AS (\n  SELECT token FROM {{p}}leases WHERE name = ${name} FOR SHARE\n"
            "), s AS (",
            1,
        )
        .replace(
            "  RETURNING sid, last_seq",
            f"    AND NOT EXISTS (SELECT 1 FROM fence WHERE token > ${token}::bigint)\n"
            "  RETURNING sid, last_seq",
            1,
        )
        .replace("SELECT base FROM s", "SELECT (SELECT base FROM s), (SELECT token FROM fence)")
    )


APPEND_FENCED: Final = _fenced(APPEND, 22, 23)

# APPEND when the batch changes no state and nothing is trimmed (`max_events` unset): most
# appends of a run. The same seq hand-out and insert without the six state branches, which
# Postgres plans and runs (empty unnests, conflict checks) on every call: about half the
# server's CPU of an append. $1-$3 key, $4 count, $5 now, $6 cutoff, $7-$11 the events.
APPEND_EVENTS: Final = (
    """
WITH s AS (
  UPDATE {p}sessions SET last_seq = last_seq + $4::bigint, updated_at = $5::float8,
    event_count = event_count + $4::bigint
  WHERE app = $1 AND user_id = $2 AND session_id = $3
    AND ($6::float8 IS NULL OR updated_at >= $6::float8)
  RETURNING sid, last_seq - $4::bigint AS base
), ev AS (
"""
    + _insert_events(7)
    + """)
SELECT base FROM s"""
)

# APPEND_EVENTS fenced like APPEND_FENCED ($12 lease name, $13 its token).
APPEND_EVENTS_FENCED: Final = _fenced(APPEND_EVENTS, 12, 13)
