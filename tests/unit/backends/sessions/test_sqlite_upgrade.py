"""SQLite session store schema v1 -> v2 (`_sqlite_schema.py`): a real version 1 file, built
with the version 1 DDL below (a copy of what agenthost wrote before), upgraded by `agenthost db
upgrade` and read back whole; the refusal at open; the default home file upgrading itself; and
a kill at every step of the upgrade leaving a version 1 or a version 2 file, never half."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agenthost.backends.sessions import _sqlite_schema
from agenthost.backends.sessions.sqlite import SQLiteSessionStore
from agenthost.cli.app import app
from agenthost.config.build import open_store
from agenthost.core import serde
from agenthost.core.errors import ConfigError, StoreError
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey

# ---- the version 1 schema, as agenthost wrote it (the fixture: do not change) ------------

V1_SCHEMA = (
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

A = SessionKey("app", "alice", "a")  # 6 events of two runs, trimmed to seq 3..8, own state
B = SessionKey("app", "alice", "b")  # no events
C = SessionKey("app", "bob", "c")  # one run, not finished
GONE = SessionKey("app", "alice", "gone")  # deleted in v1: its sid is not handed out again


def _event(seq: int, run: str, kind: str, text: str | None = None) -> Event:
    return Event(
        id=f"ev{seq}-{run}",
        run_id=run,
        author="agent",
        type=kind,  # type: ignore[arg-type]
        message=None if text is None else Message.assistant(text),
        seq=seq,
        timestamp=1000.0 + seq,
    )


EVENTS = {
    A: [
        _event(3, "r1", "message.completed", "one"),
        _event(4, "r1", "run.completed"),
        _event(5, "r2", "message.received", "two?"),
        _event(6, "r2", "message.completed", "two"),
        _event(7, "r2", "message.completed", "three"),
        _event(8, "r2", "run.completed"),
    ],
    B: [],
    C: [_event(1, "r9", "run.started"), _event(2, "r9", "message.completed", "wip")],
}
UPDATED = {A: 2000.0, B: 1500.0, C: 1800.0}
OWN_STATE = {A: b'{"topic":"cats"}', B: b"{}", C: b'{"n":1}'}


def build_v1(path: Path) -> None:
    """A version 1 file as agenthost wrote it: sessions, events, app/user state, kv."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        for statement in V1_SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        for key in (A, B, C, GONE):  # GONE has the highest sid
            events = EVENTS.get(key, [])
            conn.execute(
                "INSERT INTO sessions (app, user_id, session_id, state, created_at, updated_at, "
                "last_seq, event_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, OWN_STATE.get(key, b"{}"), 900.0, UPDATED.get(key, 950.0),
                 events[-1].seq if events else 0, len(events)),
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO events (app, user_id, session_id, seq, id, invocation_id, type, "
                "timestamp, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*key, e.seq, e.id, e.run_id, e.type, e.timestamp, serde.encode(e))
                 for e in events],
            )  # fmt: skip
        conn.execute(f"DELETE FROM sessions WHERE session_id = '{GONE.session_id}'")
        conn.execute("INSERT INTO app_state VALUES ('app', 'mode', '\"fast\"')")
        conn.execute("INSERT INTO user_state VALUES ('app', 'alice', 'lang', '\"fr\"')")
        conn.execute("INSERT INTO kv VALUES ('ns', 'k', '[1,2]')")


def version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])


async def assert_everything_readable(path: Path) -> None:
    async with SQLiteSessionStore(path) as store:
        for key, events in EVENTS.items():
            session = await store.get(key)
            assert session is not None
            assert [(e.seq, e.id, e.type, e.run_id) for e in session.events] == [
                (e.seq, e.id, e.type, e.run_id) for e in events
            ]
            assert session.updated_at == UPDATED[key] and session.created_at == 900.0
        a = await store.get(A)
        assert a is not None
        assert a.state == {"topic": "cats", "app:mode": "fast", "user:lang": "fr"}
        assert await store.get(GONE) is None
        infos = await store.list(app="app", user_id="alice")
        assert [(i.id, i.event_count, i.updated_at) for i in infos] == [
            ("a", 6, 2000.0),
            ("b", 0, 1500.0),
        ]
        assert await store.kv_get("ns", "k") == [1, 2]
        # runs: r2 ended already (close_run refuses a second end), r9 did not
        end = _event(0, "r2", "run.interrupted")
        assert await store.close_run(a, end) is False
        c = await store.get(C)
        assert c is not None
        assert await store.close_run(c, _event(0, "r9", "run.interrupted")) is True
        assert c.events[-1].seq == 3
        # new writes continue the numbering; a new session gets a sid never used
        await store.append(a, [_event(0, "r3", "message.completed", "after")])
        assert a.events[-1].seq == 9
        await store.create(SessionKey("app", "alice", "new"))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        sids = dict(conn.execute("SELECT session_id, sid FROM sessions").fetchall())
    assert sids["new"] > max(sid for name, sid in sids.items() if name != "new") + 1


def test_agenthost_db_upgrade_migrates_a_v1_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    path = tmp_path / "v1.db"
    build_v1(path)
    config = tmp_path / "agenthost.yaml"
    config.write_text(f"store:\n  url: sqlite:///{path}\n")
    runner = CliRunner()
    status = runner.invoke(app, ["db", "status", "--config", str(config)])
    assert status.exit_code == 1 and "schema version 1" in status.output, status.output
    done = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert "applied migrations [2]" in done.output
    again = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
    assert "already at schema version 2" in again.output, again.output
    assert version(path) == 2
    asyncio.run(assert_everything_readable(path))


async def test_a_v1_file_is_refused_at_open_with_what_to_run(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    build_v1(path)
    with pytest.raises(ConfigError, match=f"{path}.*schema version 1.*agenthost db upgrade"):
        await SQLiteSessionStore(path).open()
    assert version(path) == 1  # untouched


async def test_the_default_home_file_upgrades_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "agenthost.db"
    build_v1(path)
    async with open_store(home=tmp_path):
        pass
    assert version(path) == 2
    assert "upgraded the SQLite session store" in caplog.text
    await assert_everything_readable(path)


_CHILD = textwrap.dedent(
    """
    import os, signal, sqlite3, sys
    from agenthost.backends.sessions import _sqlite_schema

    path, kill_at = sys.argv[1], int(sys.argv[2])
    connect, seen = sqlite3.connect, []

    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)

        def trace(statement):
            seen.append(statement)
            if len(seen) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        conn.set_trace_callback(trace)
        return conn

    _sqlite_schema.sqlite3.connect = traced
    _sqlite_schema.upgrade_file(path, 5.0)
    print(len(seen))
    """
)


def _upgrade_in_child(path: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(kill_at)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


async def test_a_kill_at_any_step_of_the_upgrade_leaves_v1_or_v2(tmp_path: Path) -> None:
    build_v1(tmp_path / "count.db")
    counted = _upgrade_in_child(tmp_path / "count.db", 0)  # no kill: how many statements
    assert counted.returncode == 0, counted.stderr
    statements = int(counted.stdout.split()[-1])
    assert statements > len(_sqlite_schema.MIGRATIONS[2])
    outcomes = set()
    for kill_at in range(1, statements + 1):
        path = tmp_path / f"kill{kill_at}.db"
        build_v1(path)
        child = _upgrade_in_child(path, kill_at)
        assert child.returncode == -signal.SIGKILL, child.stderr
        found = version(path)  # opening recovers the WAL: the transaction is all or nothing
        outcomes.add(found)
        if found == 1:
            with pytest.raises(ConfigError, match="agenthost db upgrade"):
                await SQLiteSessionStore(path).open()
            assert (await SQLiteSessionStore(path).upgrade()) == [2]
        await assert_everything_readable(path)
    assert 1 in outcomes


# ---- a file with the store's tables but no schema version --------------------------------


def _tables(path: Path) -> dict[str, list[str]]:
    """Every table of the file and its columns, and the rows of schema_version."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found = {n: [c[1] for c in conn.execute(f"PRAGMA table_info({n})")] for n in names}
        if "schema_version" in names:
            found["rows"] = [repr(r) for r in conn.execute("SELECT * FROM schema_version")]
        return found


def _cli(tmp_path: Path, path: Path, *command: str) -> tuple[int, str]:
    config = tmp_path / "agenthost.yaml"
    config.write_text(f"store:\n  url: sqlite:///{path}\n")
    done = CliRunner().invoke(app, ["db", *command, "--config", str(config)])
    return done.exit_code, " ".join(done.output.split())


def _version_row_lost(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM schema_version")


async def _refusals(path: Path, expected: str) -> str:
    """Open (with and without auto_upgrade) and schema_version() refuse; the message."""
    for auto_upgrade in (False, True):
        with pytest.raises(StoreError, match=expected) as info:
            await SQLiteSessionStore(path, auto_upgrade=auto_upgrade).open()
    with pytest.raises(StoreError, match=expected):
        await SQLiteSessionStore(path).schema_version()
    return info.value.message


@pytest.mark.parametrize("shape", [1, 2])
def test_agenthost_tables_without_a_version_row_are_refused_with_the_way_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: int
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    path = tmp_path / "lost.db"
    build_v1(path)
    if shape == 2:
        assert asyncio.run(SQLiteSessionStore(path).upgrade()) == [2]
    _version_row_lost(path)
    before = _tables(path)
    expected = f"{path}.*no schema version.*version {shape}'s columns.*agenthost db upgrade"
    message = asyncio.run(_refusals(path, expected))
    for command in ("status", "upgrade"):
        code, output = _cli(tmp_path, path, command)
        assert code != 0 and "no schema version" in output, output
    assert _tables(path) == before  # nothing created, nothing labelled
    # what the message says to run works
    script = message.split(f'sqlite3 {path} "')[1].split('"`')[0]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(script)
    code, output = _cli(tmp_path, path, "upgrade")
    assert code == 0, output
    assert ("applied migrations [2]" if shape == 1 else "already at schema version 2") in output
    asyncio.run(assert_everything_readable(path))


async def test_foreign_tables_of_the_same_names_are_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("CREATE TABLE events (name TEXT, at TEXT)")
        conn.execute("INSERT INTO events VALUES ('launch', 'noon')")
    before = _tables(path)
    with pytest.raises(StoreError, match=f"{path}.*\\(events\\).*not the tables of any agenthost"):
        await SQLiteSessionStore(path).open()
    with pytest.raises(StoreError, match="not the tables of any agenthost"):
        await SQLiteSessionStore(path).upgrade()
    assert _tables(path) == before


async def test_an_empty_schema_version_table_alone_gets_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("CREATE TABLE usage (x)")  # another store's table in the same file
    assert await SQLiteSessionStore(path).schema_version() == 0
    async with SQLiteSessionStore(path) as store:
        session = await store.create(A)
        await store.append(session, [_event(0, "r1", "message.completed", "hi")])
    assert version(path) == 2


@pytest.mark.parametrize(
    ("columns", "row"),
    [("(installed_rank INTEGER, version VARCHAR(50), script TEXT)", "(1, '1.2', 'V1_2.sql')"),
     ("(applied TEXT)", "('2024-01-01')")],
)  # fmt: skip
async def test_another_tools_schema_version_table_is_refused_untouched(
    tmp_path: Path, columns: str, row: str
) -> None:
    path = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(f"CREATE TABLE schema_version {columns}")
        conn.execute(f"INSERT INTO schema_version VALUES {row}")
    before = _tables(path)
    expected = f"{path}.*schema_version table that is not agenthost's.*Use another file"
    with pytest.raises(StoreError, match=expected):
        await SQLiteSessionStore(path).open()
    with pytest.raises(StoreError, match=expected):
        await SQLiteSessionStore(path).schema_version()
    with pytest.raises(StoreError, match=expected):
        await SQLiteSessionStore(path).upgrade()
    assert _tables(path) == before


# ---- a refused file is left exactly as it was ----------------------------------------------


def _rollback_journal_file(path: Path, *statements: str) -> None:
    """A file made by plain sqlite3 (the rollback journal, DELETE mode: no -wal beside it)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for statement in statements:
            conn.execute(statement)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def _as_it_is(path: Path) -> tuple[str, int, list[str], str]:
    """The file's bytes (hash), mtime, the names beside it (no -wal, -shm or -journal) and the
    journal mode it records (read last: reading opens it)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    mtime = path.stat().st_mtime_ns
    names = sorted(p.name for p in path.parent.iterdir())
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return digest, mtime, names, mode


_V1_ROWS = (*V1_SCHEMA, "INSERT INTO schema_version VALUES (1)")
REFUSED = {  # a file the store refuses: its statements, and the refusal
    "foreign tables": (
        ("CREATE TABLE events (name TEXT, at TEXT)", "INSERT INTO events VALUES ('a', 'b')"),
        "not the tables of any agenthost version",
    ),
    "agenthost tables, no version row": (V1_SCHEMA, "no schema version"),
    "another tool's schema_version": (
        ("CREATE TABLE schema_version (version TEXT)", "INSERT INTO schema_version VALUES ('1.2')"),
        "schema_version table that is not agenthost's",
    ),
    "a newer version": (
        ("CREATE TABLE schema_version (version INTEGER)", "INSERT INTO schema_version VALUES (9)"),
        "schema version 9, newer",
    ),
    "version 1": (_V1_ROWS, "agenthost db upgrade"),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_a_refused_file_is_left_exactly_as_it_was(tmp_path: Path, case: str) -> None:
    statements, refusal = REFUSED[case]
    path = tmp_path / "theirs.db"
    _rollback_journal_file(path, *statements)
    before = _as_it_is(path)
    assert before[2:] == (["theirs.db"], "delete")
    with pytest.raises((StoreError, ConfigError), match=refusal):
        await SQLiteSessionStore(path).open()
    assert _as_it_is(path) == before
    if case not in ("a newer version", "version 1"):  # what `agenthost db upgrade` refuses
        with pytest.raises(StoreError, match=refusal):
            await SQLiteSessionStore(path).upgrade()
    with contextlib.suppress(StoreError):
        await SQLiteSessionStore(path).schema_version()
    assert _as_it_is(path) == before
