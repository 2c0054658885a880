"""SQLite store faults: the file deleted or replaced under an open store, a damaged or foreign
file, and the readiness check (`check()`)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.sessions import _sqlite_dirwatch, _sqlite_health
from agenthost.backends.sessions import sqlite as sqlite_module
from agenthost.backends.sessions._sqlite_dirwatch import DirWatch
from agenthost.backends.sessions.sqlite import SQLiteSessionStore
from agenthost.core.errors import StoreError

from .sqlite_helpers import KEY, Open, damage, event, fill, not_a_database


def take_away(db_path: Path, how: str) -> None:
    """`rm sessions.db`, or `mv other.db sessions.db`."""
    if how == "deleted":
        db_path.unlink()
        return
    other_path = db_path.with_name("other.db")
    with sqlite3.connect(other_path) as other:
        other.execute("CREATE TABLE t (x)")
    os.replace(other_path, db_path)


async def assert_unusable(store: SQLiteSessionStore, match: str) -> None:
    for call in (store.check(), store.get(KEY), store.kv_set("ns", "k", 1), store.kv_keys("ns")):
        with pytest.raises(StoreError, match=match):
            await call


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_file_deleted_or_replaced_under_the_store_fails_writes_and_readiness(
    open_store: Open, db_path: Path, how: str
) -> None:
    store = await open_store()
    session = await store.create(KEY)
    await store.append(session, [event("kept")])
    await store.check()
    take_away(db_path, how)
    with pytest.raises(StoreError, match=f"{db_path}.*was {how}.*Restart agenthost"):
        await store.append(session, [event("lost")])
    assert [e.message.text for e in session.events if e.message] == ["kept"]
    await assert_unusable(store, f"was {how}")


async def test_a_file_that_is_not_a_database_fails_to_open_with_what_to_do(
    open_store: Open, db_path: Path
) -> None:
    not_a_database(db_path)
    with pytest.raises(StoreError, match=f"{db_path}.*damaged.*restore the file from a backup"):
        await open_store()


async def test_a_damaged_database_fails_the_check(open_store: Open, db_path: Path) -> None:
    await fill(db_path)
    damage(db_path)
    store = await open_store(integrity_interval=0)  # the schema page is intact: it opens
    with pytest.raises(StoreError, match=f"{db_path}.*damaged.*\\.recover") as info:
        await store.check()
    assert "\n" not in info.value.message


async def test_the_integrity_check_runs_at_most_every_interval(
    open_store: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []

    def counted(source: object) -> str | None:
        calls.append(source)
        return None

    monkeypatch.setattr(_sqlite_health, "quick_check", counted)
    seldom = await open_store(integrity_interval=3600)
    await seldom.check()
    await seldom.check()
    assert len(calls) == 1
    never = await open_store(integrity_interval=None)
    await never.check()
    always = await open_store(integrity_interval=0)
    await always.check()
    await always.check()
    assert len(calls) == 3


async def test_check_of_a_closed_store_says_so(db_path: Path) -> None:
    store = SQLiteSessionStore(db_path)
    with pytest.raises(StoreError, match="not open"):
        await store.check()


def test_integrity_interval_is_validated() -> None:
    with pytest.raises(Exception, match="integrity_interval"):
        SQLiteSessionStore(":memory:", integrity_interval=-1)


# ---- the file taken away while the store opens it ------------------------------------------


class _Hooks:
    """Take the file away at one step of `open()`, and keep the directory watch it made."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, db_path: Path, how: str) -> None:
        self.db_path, self.how = db_path, how
        self.watches: list[DirWatch] = []
        self._monkeypatch = monkeypatch
        monkeypatch.setattr(sqlite_module, "DirWatch", self._dirwatch)
        self.at: str | None = None

    def _dirwatch(self, path: str) -> DirWatch:
        if self.at == "before the directory watch" and path != ":memory:":
            self.at = None
            take_away(self.db_path, self.how)
        watch = DirWatch(path)
        self.watches.append(watch)
        return watch

    def after_connect(self) -> None:
        self.at = "after connect"
        connect, calls = sqlite3.connect, []

        def connected(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = connect(*args, **kwargs)
            if not calls:  # the store's own connection, not the checkpointer's
                calls.append(1)
                take_away(self.db_path, self.how)
            return conn

        self._monkeypatch.setattr(sqlite_module.sqlite3, "connect", connected)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
@pytest.mark.parametrize(
    ("at", "new_file"),
    [("before the directory watch", True), ("before the directory watch", False),
     ("after connect", False)],
)  # fmt: skip
async def test_a_file_taken_away_while_the_store_opens_it_fails_the_open(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, at: str, new_file: bool
) -> None:
    if not new_file:
        await fill(db_path)
    hooks = _Hooks(monkeypatch, db_path, how)
    if at == "after connect":
        hooks.after_connect()
    else:
        hooks.at = at
    store = SQLiteSessionStore(db_path)
    with pytest.raises(StoreError, match=f"{db_path}.*was {how}.*while agenthost opened it"):
        await store.open()  # (before: opened, and every write went to a file nobody sees)
    assert repr(store).endswith("closed)")
    assert all(not watch.watching for watch in hooks.watches)  # closed with the connection
    hooks.at = None
    async with SQLiteSessionStore(db_path) as again:  # the file now at the path
        session = await again.create(KEY)
        await again.append(session, [event("kept")])


# ---- errors of the setup say what to fix ---------------------------------------------------


async def test_a_directory_that_cannot_be_made_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file where the store wants a directory")
    path = tmp_path / "notes.txt" / "sessions.db"
    expected = f"Cannot create the directory '{tmp_path / 'notes.txt'}' for the SQLite database"
    with pytest.raises(StoreError, match=f"{expected}.*Create it"):
        await SQLiteSessionStore(path).open()
    with pytest.raises(StoreError, match=expected):
        await SQLiteSessionStore(path).upgrade()  # `agenthost db upgrade`


async def test_a_path_that_is_a_directory_says_it_must_name_a_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=f"{tmp_path}.*must name a file \\(not a directory\\)"):
        await SQLiteSessionStore(tmp_path).open()


def _sqlite_error(db_path: Path, statements: list[str], uri: str = "") -> sqlite3.Error:
    """The error SQLite raises running `statements` on the file."""
    target = f"{db_path.absolute().as_uri()}?{uri}" if uri else str(db_path)
    conn = sqlite3.connect(target, uri=bool(uri), isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("no error")


async def test_a_read_only_or_full_database_says_what_to_fix(db_path: Path) -> None:
    await fill(db_path)
    readonly = _sqlite_error(db_path, ["DELETE FROM kv"], uri="mode=ro")
    assert _sqlite_health.translate(str(db_path), readonly).message.endswith(
        "(SQLite writes sessions.db-wal and sessions.db-shm beside it) writable by the user "
        "agenthost runs as."
    )
    full = _sqlite_error(  # max_page_count is never set below the file's size: that size
        db_path, ["PRAGMA max_page_count = 1", "INSERT INTO kv VALUES ('n', 'k', zeroblob(99999))"]
    )
    assert "disk holding it is full" in _sqlite_health.translate(str(db_path), full).message


async def test_a_relative_path_still_names_the_file_after_a_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_dirwatch, "_inotify", lambda: None)  # stat after every commit
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    async with SQLiteSessionStore("sessions.db", integrity_interval=0) as store:
        session = await store.create(KEY)
        monkeypatch.chdir(tmp_path / "elsewhere")  # an embedding program's os.chdir()
        await store.append(session, [event("kept")])
        await store.check()  # the stat and quick_check of the file opened, not ./sessions.db
    async with SQLiteSessionStore(tmp_path / "sessions.db") as again:
        stored = await again.get(KEY)
        assert stored is not None and [e.seq for e in stored.events] == [1]
