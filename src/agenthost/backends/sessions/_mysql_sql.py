"""The MySQL/MariaDB store's migrations and statements (`{p}` is the table prefix).

Same layout as Postgres (`_postgres_sql.py`): events as blobs keyed by the session's `sid`,
one row per state key. Every text column is utf8mb4_bin: ids and keys compare byte for byte
(the default collation would make 'A' and 'a' the same key). `key` is reserved in MySQL, so
the key columns are called `k`. DDL commits implicitly in MySQL, so each statement is
idempotent (IF NOT EXISTS, or `drop_indexes`' look in information_schema first) and a
half-applied migration is finished by the next upgrade.
"""

from __future__ import annotations

from typing import Final

from agenthost.backends.sessions._channel_sql import MYSQL_MIGRATION
from agenthost.backends.sessions._channel_sql import TABLES as CHANNEL_TABLES
from agenthost.backends.sessions._sql_common import Migration
from agenthost.backends.sessions._sql_leases import MYSQL_QUEUE_TABLE

_TABLE: Final = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
_TEXT: Final = "VARCHAR(255) NOT NULL"


def drop_indexes(table: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """Statements dropping whichever of the indexes `names` of `{p}<table>` exist, in one
    ALTER TABLE (none left: a no-op). MariaDB has DROP INDEX IF EXISTS, MySQL 8 does not:
    the ALTER is built from information_schema.statistics and run as a prepared statement
    (a session variable: the upgrade's statements share one connection)."""
    wanted = ", ".join(f"'{name}'" for name in names)
    return (
        "SET @agenthost_ddl = (SELECT IFNULL(CONCAT('ALTER TABLE `{p}" + table + "` ', "
        "GROUP_CONCAT(DISTINCT CONCAT('DROP INDEX `', index_name, '`') SEPARATOR ', ')), "
        "'DO 0') FROM information_schema.statistics WHERE table_schema = DATABASE() "
        f"AND table_name = '{{p}}{table}' AND index_name IN ({wanted}))",
        "PREPARE agenthost_ddl FROM @agenthost_ddl",
        "EXECUTE agenthost_ddl",
        "DEALLOCATE PREPARE agenthost_ddl",
    )


MIGRATIONS: Final = (
    Migration(
        1,
        "sessions, events, state scopes, key/value",
        (
            f"""CREATE TABLE IF NOT EXISTS {{p}}sessions (
                sid BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                app {_TEXT}, user_id {_TEXT}, session_id {_TEXT},
                created_at DOUBLE NOT NULL, updated_at DOUBLE NOT NULL,
                last_seq BIGINT NOT NULL, event_count BIGINT NOT NULL,
                UNIQUE KEY by_key (app, user_id, session_id),
                KEY by_user (app, user_id, updated_at),
                KEY by_age (updated_at)){_TABLE}""",
            f"""CREATE TABLE IF NOT EXISTS {{p}}events (
                sid BIGINT NOT NULL, seq BIGINT NOT NULL,
                id {_TEXT}, run_id {_TEXT}, type {_TEXT}, ts DOUBLE NOT NULL,
                data LONGBLOB NOT NULL,
                PRIMARY KEY (sid, seq),
                FOREIGN KEY (sid) REFERENCES {{p}}sessions (sid) ON DELETE CASCADE){_TABLE}""",
            f"""CREATE TABLE IF NOT EXISTS {{p}}session_state (
                sid BIGINT NOT NULL, k {_TEXT}, value LONGBLOB NOT NULL,
                PRIMARY KEY (sid, k),
                FOREIGN KEY (sid) REFERENCES {{p}}sessions (sid) ON DELETE CASCADE){_TABLE}""",
            f"""CREATE TABLE IF NOT EXISTS {{p}}app_state (
                app {_TEXT}, k {_TEXT}, value LONGBLOB NOT NULL,
                PRIMARY KEY (app, k)){_TABLE}""",
            f"""CREATE TABLE IF NOT EXISTS {{p}}user_state (
                app {_TEXT}, user_id {_TEXT}, k {_TEXT}, value LONGBLOB NOT NULL,
                PRIMARY KEY (app, user_id, k)){_TABLE}""",
            f"""CREATE TABLE IF NOT EXISTS {{p}}kv (
                namespace {_TEXT}, k {_TEXT}, value LONGBLOB NOT NULL,
                PRIMARY KEY (namespace, k)){_TABLE}""",
        ),
    ),
    MYSQL_MIGRATION,  # channel_inbox, channel_outbox: _channel_sql.py
    # the session leases' waiters in arrival order (LeaseQueue): _sql_leases.py
    Migration(3, "lease waiters' queue", (MYSQL_QUEUE_TABLE,)),
    # Every append UPDATEs its session row (last_seq, updated_at, event_count). InnoDB updates
    # those fixed-size columns in place in the clustered index, but a secondary index holding
    # a changed column gets an entry delete-marked and a new one inserted: `updated_at` was in
    # two, so every append wrote four secondary index records (and purge cleaned them up
    # later). No statement needs them (each one's plan: tests/contract/test_session_plans.py):
    # a session is found by its unique key `by_key`, `list` reads one user's rows through its
    # (app, user_id) prefix and sorts them, and `purge_expired` (a rare sweep) scans the
    # table. The same step as Postgres' 3 (_postgres_sql.py).
    Migration(
        4,
        "sessions' by_user and by_age indexes dropped (appends write no secondary index)",
        drop_indexes("sessions", ("by_user", "by_age")),
    ),
)

TABLES: Final = (
    *CHANNEL_TABLES,
    "lease_waiters",  # migration 3
    "leases",  # made on first use by _sql_leases.py
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
    "(version INT NOT NULL PRIMARY KEY, applied_at DOUBLE NOT NULL)" + _TABLE
)

WHERE_KEY: Final = "app = %s AND user_id = %s AND session_id = %s"
_JOIN: Final = (
    f"JOIN {{p}}sessions s ON t.sid = s.sid WHERE s.{WHERE_KEY.replace(' AND ', ' AND s.')}"
)

# One round trip: five reads in one transaction (one snapshot), then COMMIT.
GET: Final = (
    f"SELECT created_at, updated_at FROM {{p}}sessions WHERE {WHERE_KEY};"
    f"SELECT t.seq, t.data FROM {{p}}events t {_JOIN} ORDER BY t.seq;"
    f"SELECT t.k, t.value FROM {{p}}session_state t {_JOIN};"
    "SELECT k, value FROM {p}app_state WHERE app = %s;"
    "SELECT k, value FROM {p}user_state WHERE app = %s AND user_id = %s;"
    "COMMIT"
)
SHARED: Final = (
    "SELECT k, value FROM {p}app_state WHERE app = %s;"
    "SELECT k, value FROM {p}user_state WHERE app = %s AND user_id = %s"
)
LOCK_SESSION: Final = (
    f"SELECT sid, last_seq, updated_at, event_count FROM {{p}}sessions WHERE {WHERE_KEY} FOR UPDATE"
)
INSERT_EVENTS: Final = "INSERT INTO {p}events (sid, seq, id, run_id, type, ts, data) VALUES "
TRIM: Final = "DELETE FROM {p}events WHERE sid = %s AND seq <= %s"
UPDATE_SESSION: Final = (
    "UPDATE {p}sessions SET last_seq = %s, updated_at = %s, event_count = %s WHERE sid = %s"
)
UPSERT_OWN: Final = "INSERT INTO {p}session_state (sid, k, value) VALUES "
DELETE_OWN: Final = "DELETE FROM {p}session_state WHERE sid = %s AND k IN "
UPSERT_APP: Final = "INSERT INTO {p}app_state (app, k, value) VALUES "
DELETE_APP: Final = "DELETE FROM {p}app_state WHERE app = %s AND k IN "
UPSERT_USER: Final = "INSERT INTO {p}user_state (app, user_id, k, value) VALUES "
DELETE_USER: Final = "DELETE FROM {p}user_state WHERE app = %s AND user_id = %s AND k IN "
ON_DUPLICATE: Final = " ON DUPLICATE KEY UPDATE value = VALUES(value)"
SELECT_EXPIRY: Final = f"SELECT updated_at FROM {{p}}sessions WHERE {WHERE_KEY} FOR UPDATE"
INSERT_SESSION: Final = (
    "INSERT INTO {p}sessions (app, user_id, session_id, created_at, updated_at, last_seq, "
    "event_count) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
LIST: Final = (
    "SELECT session_id, created_at, updated_at, event_count FROM {p}sessions "
    "WHERE app = %s AND user_id = %s AND updated_at >= %s ORDER BY updated_at DESC, sid DESC"
)
DELETE_SESSION: Final = f"DELETE FROM {{p}}sessions WHERE {WHERE_KEY}"
PURGE: Final = "DELETE FROM {p}sessions WHERE updated_at < %s"
KV_GET: Final = "SELECT value FROM {p}kv WHERE namespace = %s AND k = %s"
KV_SET: Final = "INSERT INTO {p}kv (namespace, k, value) VALUES (%s, %s, %s)" + ON_DUPLICATE
KV_DELETE: Final = "DELETE FROM {p}kv WHERE namespace = %s AND k = %s"
KV_KEYS: Final = "SELECT k FROM {p}kv WHERE namespace = %s ORDER BY k"
# the lease's token, the row share-locked for the append's transaction (a fenced append:
# ports/leases.py): a concurrent acquire waits for the append to commit, or it is seen
LOCK_FENCE: Final = "SELECT token FROM {p}leases WHERE name = %s LOCK IN SHARE MODE"
