"""Is the SQLite file still the one the store opened, and is it sound? (fault detection)

- **Deleted or replaced under a running store.** SQLite goes on writing to the file it has
  open: after `rm agenthost.db` (or `mv other.db agenthost.db`) every later write "succeeds"
  into a file nobody will ever open again. So the store remembers the file's identity
  (st_dev, st_ino) when it opens it and compares the path's (one `os.stat`) in `check()` and
  after a write commits, when the inotify watch of the directory (`_sqlite_dirwatch.py`) saw a
  name of the file change, or after every commit where there is no inotify. A mismatch is
  a StoreError, and from then on the store refuses every call: nothing is reported stored that
  was not, readiness fails, and a restart opens whatever file is now at the path.
- **Damaged.** SQLite reports SQLITE_CORRUPT or SQLITE_NOTADB on the statement that meets a bad
  page (or on open, for a file that is not a database at all); `translate` turns that into a
  StoreError that names the file and says what to do. `check()` also runs `PRAGMA quick_check`,
  which reads the whole database: on a thread with its own read-only connection (so the event
  loop never waits for it), at most once every `integrity_interval` seconds; the answer is
  remembered in between.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path
from typing import Final

from agenthost.core.errors import StoreError

_SQLITE_CORRUPT: Final = 11
_SQLITE_NOTADB: Final = 26
_SQLITE_READONLY: Final = 8
_SQLITE_FULL: Final = 13
_SQLITE_CANTOPEN: Final = 14


def damaged(path: str, detail: str) -> StoreError:
    detail = " ".join(detail.split())  # quick_check's report spans lines: one line here
    if len(detail) > 300:
        detail = detail[:297] + "..."
    return StoreError(
        f"SQLite database {path!r} is damaged or not an agenthost database ({detail}). Stop "
        f"agenthost, then restore the file from a backup, or move it aside to start with an "
        f"empty store (`sqlite3 {path} .recover` saves what can still be read)."
    )


def translate(path: str, exc: sqlite3.Error) -> StoreError:
    """The StoreError for an sqlite error that retrying will not cure."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return damaged(path, str(exc))
    return StoreError(f"SQLite session store {path!r} failed: {exc}{_hint(path, code)}")


def _hint(path: str, code: int) -> str:
    """What to do about the errors a setup, not a bug, causes."""
    if code == _SQLITE_CANTOPEN:
        return (
            ". The path must name a file (not a directory) in a directory that the user "
            "agenthost runs as can read and write; fix that or choose another path."
        )
    if code == _SQLITE_READONLY:
        name = os.path.basename(path)
        return (
            f". Make the file and its directory (SQLite writes {name}-wal and {name}-shm "
            f"beside it) writable by the user agenthost runs as."
        )
    if code == _SQLITE_FULL:
        return ". The disk holding it is full: free some space, then try again."
    return ""


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class FileWatch:
    """The identity of the database file as opened, checked against the path's."""

    __slots__ = ("file", "lost", "name", "opened", "path")

    def __init__(self, path: str) -> None:
        self.path = path  # as given, for messages
        # absolute as SQLite resolved it at open: a later os.chdir() does not move the file
        self.file = path if path == ":memory:" else os.path.abspath(path)
        # The path through any symbolic links (os.stat follows them, as a restart's open would):
        # a link pointed at another file, or its target deleted, is a file moved.
        self.opened = None if path == ":memory:" else _file_id(self.file)
        self.name = repr(path)  # for messages: the path, and where its links led at open
        if self.opened is not None and os.path.islink(self.file):
            self.name += f" (a symbolic link to {os.path.realpath(self.file)!r} when opened)"
        self.lost: str | None = None  # why the store is unusable, once it is

    def usable(self) -> None:
        if self.lost is not None:
            raise StoreError(self.lost)

    def verify(self) -> None:
        """StoreError when the path no longer names the file the store has open (one
        `os.stat`: after a commit when the directory watch saw a change, and in `check()`)."""
        what = self._moved()
        if what is None:
            return
        self.lost = (
            f"The SQLite database file {self.name} was {what} while agenthost had it open; "
            f"what it wrote since is lost and nothing more is written. Restart agenthost to "
            f"use the file now at that path (or put the original back first)."
        )
        raise StoreError(self.lost)

    def settled(self) -> None:
        """At open, once the directory watch is live: StoreError when the path no longer
        names the file taken before the connection opened it (deleted, renamed or replaced
        meanwhile; from now on the directory watch sees any such change)."""
        error = self.moved_while_opening()
        if error is not None:
            raise error

    def moved_while_opening(self) -> StoreError | None:
        """`settled()`'s error, or None; also what explains an sqlite error during open."""
        gone = self.opened is None and self.path != ":memory:"  # deleted before it was taken
        what = "deleted" if gone else self._moved()
        if what is None:
            return None
        return StoreError(
            f"The SQLite database file {self.name} was {what} while agenthost opened it; "
            f"the store did not open. Open it again (start agenthost again) to use the file "
            f"now at that path."
        )

    def _moved(self) -> str | None:
        """What happened to the file at the path since its identity was taken (None: nothing)."""
        opened = self.opened
        if opened is None:
            return None
        try:
            st = os.stat(self.file)
        except OSError:
            return "deleted"
        if st.st_ino == opened[1] and st.st_dev == opened[0]:
            return None
        return "replaced by another file"


def quick_check(source: str | sqlite3.Connection) -> str | None:
    """None when `PRAGMA quick_check` finds the database sound, else what it found."""
    if isinstance(source, str):
        uri = f"{Path(source).absolute().as_uri()}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=1.0)
        except sqlite3.Error as exc:
            return str(exc)
        try:
            return quick_check(conn)
        finally:
            conn.close()
    try:
        rows = [row[0] for row in source.execute("PRAGMA quick_check(5)")]
    except sqlite3.Error as exc:
        return str(exc)
    return None if rows == ["ok"] else "; ".join(str(r) for r in rows)


class IntegrityCheck:
    """`PRAGMA quick_check`, at most once every `interval` seconds (None: never)."""

    def __init__(self, path: str, interval: float | None) -> None:
        self.path = path
        self.interval = interval
        self._at: float | None = None
        self._problem: str | None = None

    async def run(self, conn: sqlite3.Connection, file: str) -> None:
        """`file`: the database's absolute path (FileWatch.file)."""
        if self.interval is None:
            return
        now = time.monotonic()
        if self._at is None or now - self._at >= self.interval:
            if self.path == ":memory:":  # private to this connection, and small
                problem = quick_check(conn)
            else:
                problem = await asyncio.to_thread(quick_check, file)
            self._at, self._problem = time.monotonic(), problem
        if self._problem is not None:
            raise damaged(self.path, self._problem)
