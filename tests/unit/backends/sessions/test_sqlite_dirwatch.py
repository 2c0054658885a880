"""The SQLite store's directory watch (`_sqlite_dirwatch.py`): another process deleting,
replacing or writing the file is seen by this one; without inotify every commit stats."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agenthost.backends.sessions import _sqlite_dirwatch
from agenthost.backends.sessions._sqlite_dirwatch import DirWatch
from agenthost.backends.sessions._sqlite_health import FileWatch
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
