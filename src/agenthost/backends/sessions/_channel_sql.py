"""The channel inbox and outbox tables on Postgres and MySQL/MariaDB (`{p}`: the table prefix).

Migration 2 of both stores (`agenthost db upgrade` makes them); the same two tables as SQLite
(channel_store_sqlite.py has the column meanings). MySQL calls `key` `k` (reserved word).
"""

from __future__ import annotations

from typing import Final

from agenthost.backends.sessions._sql_common import Migration

TABLES: Final = ("channel_outbox", "channel_inbox")

PG_MIGRATION: Final = Migration(
    2,
    "channel inbox and outbox",
    (
        """CREATE TABLE {p}channel_inbox (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            input text COLLATE "C" NOT NULL,
            conversation text COLLATE "C" NOT NULL,
            message_id text COLLATE "C" NOT NULL,
            message bytea NOT NULL,
            state text NOT NULL DEFAULT 'pending',
            accepted_at double precision NOT NULL,
            finished_at double precision,
            run bytea,
            UNIQUE (input, conversation, message_id))""",
        "CREATE INDEX {p}channel_inbox_pending ON {p}channel_inbox (state, seq)",
        """CREATE TABLE {p}channel_outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            key text COLLATE "C" NOT NULL UNIQUE,
            output text COLLATE "C" NOT NULL,
            target text COLLATE "C" NOT NULL,
            item bytea NOT NULL,
            status text NOT NULL DEFAULT 'pending',
            attempts integer NOT NULL DEFAULT 0,
            next_at double precision NOT NULL DEFAULT 0,
            last_error text,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL)""",
        "CREATE INDEX {p}channel_outbox_pending ON {p}channel_outbox (output, status, id)",
    ),
)

_TABLE: Final = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
_TEXT: Final = "VARCHAR(255) NOT NULL"

MYSQL_MIGRATION: Final = Migration(
    2,
    "channel inbox and outbox",
    (
        f"""CREATE TABLE IF NOT EXISTS {{p}}channel_inbox (
            seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            input {_TEXT}, conversation {_TEXT}, message_id {_TEXT},
            message LONGBLOB NOT NULL,
            state VARCHAR(16) NOT NULL DEFAULT 'pending',
            accepted_at DOUBLE NOT NULL,
            finished_at DOUBLE NULL,
            run LONGBLOB NULL,
            UNIQUE KEY by_key (input, conversation, message_id),
            KEY pending (state, seq)){_TABLE}""",
        f"""CREATE TABLE IF NOT EXISTS {{p}}channel_outbox (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            k CHAR(32) NOT NULL,
            output {_TEXT}, target {_TEXT},
            item LONGBLOB NOT NULL,
            status VARCHAR(16) NOT NULL DEFAULT 'pending',
            attempts INT NOT NULL DEFAULT 0,
            next_at DOUBLE NOT NULL DEFAULT 0,
            last_error TEXT NULL,
            created_at DOUBLE NOT NULL,
            updated_at DOUBLE NOT NULL,
            UNIQUE KEY by_key (k),
            KEY pending (output, status, id)){_TABLE}""",
    ),
)

# The statements, in each driver's placeholder style.
PG: Final = {
    "ACCEPT": "INSERT INTO {p}channel_inbox (input, conversation, message_id, message, "
    "accepted_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING seq",
    "PENDING": "SELECT seq, message FROM {p}channel_inbox WHERE state = 'pending' ORDER BY seq",
    "QUEUE": "INSERT INTO {p}channel_outbox (key, output, target, item, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
    "DONE": "UPDATE {p}channel_inbox SET state = 'done', finished_at = $1, run = $2 "
    "WHERE input = $3 AND conversation = $4 AND message_id = $5",
    "DUE": "SELECT o.id, o.key, o.item, o.attempts, o.next_at, o.last_error "
    "FROM {p}channel_outbox o JOIN (SELECT min(id) AS id FROM {p}channel_outbox "
    "WHERE output = $1 AND status = 'pending' GROUP BY target) h ON o.id = h.id "
    "WHERE o.next_at <= $2 ORDER BY o.id LIMIT $3",
    "UPDATE": "UPDATE {p}channel_outbox SET status = $1, attempts = $2, next_at = $3, "
    "last_error = $4, updated_at = $5 WHERE id = $6",
    "COUNT_INBOX": "SELECT count(*) FROM {p}channel_inbox WHERE state = 'pending'",
    "COUNT_OUTBOX": "SELECT status, count(*) FROM {p}channel_outbox GROUP BY status",
    "ALL": "SELECT id, key, item, status, attempts, next_at, last_error "
    "FROM {p}channel_outbox ORDER BY id",
    "RUNS": "SELECT run FROM {p}channel_inbox WHERE run IS NOT NULL ORDER BY seq",
}

MYSQL: Final = {
    # not INSERT IGNORE: that would also turn a too-long id into a truncated one
    "ACCEPT": "INSERT INTO {p}channel_inbox (input, conversation, message_id, message, "
    "accepted_at) VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE input = input",
    "PENDING": "SELECT seq, message FROM {p}channel_inbox WHERE state = 'pending' ORDER BY seq",
    "QUEUE": "INSERT INTO {p}channel_outbox (k, output, target, item, created_at, "
    "updated_at) VALUES (%s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE k = k",
    "DONE": "UPDATE {p}channel_inbox SET state = 'done', finished_at = %s, run = %s "
    "WHERE input = %s AND conversation = %s AND message_id = %s",
    "DUE": "SELECT o.id, o.k, o.item, o.attempts, o.next_at, o.last_error "
    "FROM {p}channel_outbox o JOIN (SELECT min(id) AS id FROM {p}channel_outbox "
    "WHERE output = %s AND status = 'pending' GROUP BY target) h ON o.id = h.id "
    "WHERE o.next_at <= %s ORDER BY o.id LIMIT %s",
    "UPDATE": "UPDATE {p}channel_outbox SET status = %s, attempts = %s, next_at = %s, "
    "last_error = %s, updated_at = %s WHERE id = %s",
    "COUNT_INBOX": "SELECT count(*) FROM {p}channel_inbox WHERE state = 'pending'",
    "COUNT_OUTBOX": "SELECT status, count(*) FROM {p}channel_outbox GROUP BY status",
    "ALL": "SELECT id, k, item, status, attempts, next_at, last_error "
    "FROM {p}channel_outbox ORDER BY id",
    "RUNS": "SELECT run FROM {p}channel_inbox WHERE run IS NOT NULL ORDER BY seq",
}


def prefixed(statements: dict[str, str], prefix: str) -> dict[str, str]:
    return {name: text.replace("{p}", prefix) for name, text in statements.items()}
