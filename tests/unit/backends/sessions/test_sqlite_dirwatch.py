"""The SQLite store's directory watch (`_sqlite_dirwatch.py`): another process deleting,
replacing or writing the file is seen by this one; without inotify every commit stats."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sqlite3
import subprocess
import sys
import textwrap
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

from agenthost.backends.sessions import _sqlite_dirwatch
from agenthost.backends.sessions._sqlite_dirwatch import DirWatch
from agenthost.backends.sessions._sqlite_health import FileWatch
from agenthost.backends.sessions.sqlite import SQLiteSessionStore
from agenthost.core.errors import StoreError

from .sqlite_helpers import KEY, Open, event, texts

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")


def in_child(code: str, *args: str) -> None:
    """Run `code` in another Python process (argv[1:] = args); it must succeed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr


REPLACE = """
    import os, sqlite3, sys
    path = sys.argv[1]
    other = path + ".new"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    os.replace(other, path)
"""
DELETE = "import os, sys; os.unlink(sys.argv[1])"
TOUCH = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('x')"
APPEND = """
    import asyncio, sys
    from agenthost.backends.sessions.sqlite import SQLiteSessionStore
    from agenthost.core.events import Event
    from agenthost.core.messages import Message
    from agenthost.core.session import SessionKey

    async def main() -> None:
        async with SQLiteSessionStore(sys.argv[1]) as store:
            session = await store.get(SessionKey("app", "alice", "s1"))
            text = Message.assistant("from the other process")
            new = Event(id="e", run_id="r", author="agent", type="message.completed", message=text)
            await store.append(session, [new])

    asyncio.run(main())
"""


@linux_only
def test_the_watch_answers_only_for_the_files_own_name(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    path.write_bytes(b"")
    watch = DirWatch(str(path))
    try:
        assert watch.watching
        assert not watch.changed()
        in_child(TOUCH, str(tmp_path / "neighbour.txt"))
        assert not watch.changed()  # another name
        in_child(DELETE, str(path))
        assert watch.changed()
        assert not watch.changed()  # the news was read
    finally:
        watch.close()
    assert not watch.changed()  # closed


def test_without_inotify_every_question_says_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_dirwatch, "_inotify", lambda: None)
    watch = DirWatch(str(tmp_path / "sessions.db"))
    assert not watch.watching
    assert watch.changed() and watch.changed()
    assert not DirWatch(":memory:").changed()


def _count_stats(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    verify = FileWatch.verify

    def counted(self: FileWatch) -> None:
        calls.append(1)
        verify(self)

    monkeypatch.setattr(FileWatch, "verify", counted)
    return calls


@linux_only
@pytest.mark.parametrize(("how", "code"), [("deleted", DELETE), ("replaced", REPLACE)])
async def test_another_process_taking_the_file_away_fails_the_next_write(
    open_store: Open, db_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, code: str
) -> None:
    stats = _count_stats(monkeypatch)
    store = await open_store()
    session = await store.create(KEY)
    for _ in range(5):
        await store.append(session, [event("kept")])
    in_child(TOUCH, str(db_path.with_name("neighbour.txt")))
    await store.append(session, [event("kept")])
    assert stats == []  # no stat while no name of the file changed
    in_child(code, str(db_path))
    with pytest.raises(StoreError, match=f"was {how}"):
        await store.append(session, [event("lost")])
    assert stats == [1]


async def test_without_inotify_the_file_is_statted_after_every_commit(
    open_store: Open, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_dirwatch, "_inotify", lambda: None)
    stats = _count_stats(monkeypatch)
    store = await open_store()
    session = await store.create(KEY)
    await store.append(session, [event("kept")])
    assert len(stats) == 2
    in_child(DELETE, str(db_path))
    with pytest.raises(StoreError, match="was deleted"):
        await store.append(session, [event("lost")])


async def test_a_write_by_another_process_is_seen_by_this_one(
    open_store: Open, db_path: Path
) -> None:
    store = await open_store()
    session = await store.create(KEY)
    await store.append(session, [event("mine")])
    in_child(APPEND, str(db_path))
    again = await store.get(KEY)
    assert again is not None
    assert texts(again.events) == ["mine", "from the other process"]
    await store.append(again, [event("mine again")])
    assert [e.seq for e in again.events] == [1, 2, 3]


# ---- a path that is a symbolic link --------------------------------------------------------


def _point(link: Path, target: str) -> None:
    """Point `link` at `target` in one step (as `ln -sfn` does: a new link renamed over it)."""
    new = link.with_name(link.name + ".new")
    os.symlink(target, new)
    os.replace(new, link)


def _gone(target: Path, _link: Path) -> None:
    target.unlink()


def _renamed(target: Path, _link: Path) -> None:
    target.rename(target.with_name("moved.db"))


def _replaced(target: Path, _link: Path) -> None:
    in_child(REPLACE, str(target))


def _unlinked(_target: Path, link: Path) -> None:
    link.unlink()


def _pointed_elsewhere(target: Path, link: Path) -> None:
    other = target.with_name("other.db")
    sqlite3.connect(other).close()
    _point(link, str(other))


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def linked(db_path: Path) -> Path:
    """`db_path` made a relative symbolic link to data/real.db (the file, not yet made)."""
    target = db_path.parent / "data" / "real.db"
    target.parent.mkdir()
    os.symlink(os.path.join("data", "real.db"), db_path)
    return target


@linux_only
@pytest.mark.parametrize(
    ("how", "change"),
    [
        ("deleted", _gone),
        ("deleted", _renamed),
        ("replaced by another file", _replaced),
        ("deleted", _unlinked),
        ("replaced by another file", _pointed_elsewhere),
    ],
)
async def test_the_file_a_symbolic_link_leads_to_is_watched_too(
    open_store: Open,
    db_path: Path,
    linked: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    change: Callable[[Path, Path], None],
) -> None:
    stats = _count_stats(monkeypatch)
    store = await open_store()
    assert _names(linked.parent) == ["real.db", "real.db-shm", "real.db-wal"]  # SQLite's
    assert _names(db_path.parent) == ["data", "sessions.db"]
    session = await store.create(KEY)
    for neighbour in (db_path.with_name("n.txt"), linked.with_name("n.txt")):
        in_child(TOUCH, str(neighbour))
        await store.append(session, [event("kept")])
    assert stats == []  # no stat while no name on the way to the file changed
    change(linked, db_path)
    expected = f"'{db_path}' \\(a symbolic link to '{linked}' when opened\\) was {how}"
    with pytest.raises(StoreError, match=expected):
        await store.append(session, [event("lost")])
    assert stats == [1]


@linux_only
async def test_a_link_pointed_at_the_same_file_another_way_is_followed(
    open_store: Open, db_path: Path, linked: Path
) -> None:
    store = await open_store()
    session = await store.create(KEY)
    alias = db_path.parent / "elsewhere" / "alias.db"  # a directory not watched so far
    alias.parent.mkdir()
    os.symlink(linked, alias)
    _point(db_path, str(alias))
    await store.append(session, [event("kept")])  # the same file: still stored
    alias.unlink()  # the path leads nowhere now: seen at the next commit
    with pytest.raises(StoreError, match="was deleted"):
        await store.append(session, [event("lost")])


# ---- a store dropped without being closed --------------------------------------------------


def _descriptors() -> tuple[int, int]:
    """How many descriptors this process has open, and how many of them are inotify's."""
    names = os.listdir("/proc/self/fd")
    links = []
    for name in names:
        with contextlib.suppress(OSError):  # listdir's own, closed by now
            links.append(os.readlink(f"/proc/self/fd/{name}"))
    return len(links), links.count("anon_inode:inotify")


@linux_only
async def test_a_store_dropped_unclosed_closes_its_watch_with_a_resource_warning(
    db_path: Path,
) -> None:
    gc.collect()
    before = _descriptors()
    store = await SQLiteSessionStore(db_path).open()
    await store.append(await store.create(KEY), [event("kept")])
    opened = _descriptors()
    assert opened[1] == before[1] + 1 and opened[0] > before[0] + 1  # the watch, the database
    await asyncio.sleep(0)  # the end of this loop tick: the store's callback for it runs
    dropped = weakref.ref(store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del store
        gc.collect()
    assert dropped() is None
    assert _descriptors() == before
    assert any(
        w.category is ResourceWarning and "unclosed SQLite session store" in str(w.message)
        for w in caught
    ), [str(w.message) for w in caught]
