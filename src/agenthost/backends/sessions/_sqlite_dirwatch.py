"""Has the SQLite file's name been deleted, renamed or replaced? Asked after every commit.

The store checks after each commit that its path still names the file it has open
(`_sqlite_health.FileWatch`, one `os.stat`: 2-7 µs on this loaded disk, four times a turn). On
Linux an inotify watch on the file's directory (through ctypes: the standard library has no
inotify) says instead whether any entry of that directory was created, deleted or renamed since
the last question: `poll(0)` on the inotify descriptor, about 1.5 µs, and no path lookup. Only
when it has news that name the file (or the directory itself moved, or the kernel's queue
overflowed) does the store run the `os.stat` check. The kernel queues the event inside the
`unlink`/`rename` call of whichever process makes it, so the next commit of this process
sees it, exactly when the per-commit `os.stat` would have.

A path that is a symbolic link (or a chain of them): SQLite opens the file at the end of it
(and puts the -wal and -shm beside that), so the watch covers the directory of every link on
the way and that file's: deleting or renaming the file, or pointing a link elsewhere, is seen
at the next commit as for a plain path (`FileWatch` stats the path through the links: a link
now leading to another file is "replaced"). After such news the links are followed again, so
a link pointed at the same file another way keeps being watched.

A DirWatch garbage-collected unclosed (a store dropped without `aclose()`) closes its
descriptor then, with a ResourceWarning as an unclosed file gives.

Elsewhere (not Linux, no libc, the inotify limits reached) `changed()` always answers True:
the store stats after every commit, as before.

What the watch does not see, where the per-commit `os.stat` did: a directory above the file's
own being renamed or replaced (the path then names another file or none), and changes made on
another host to a network file system (inotify reports only this kernel's; SQLite's locking
is not safe on NFS either, see docs/stores.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import struct
import sys
import warnings
from typing import Final

logger = logging.getLogger("agenthost.sessions.sqlite")

_IN_MOVED_FROM: Final = 0x00000040
_IN_MOVED_TO: Final = 0x00000080
_IN_CREATE: Final = 0x00000100
_IN_DELETE: Final = 0x00000200
_IN_DELETE_SELF: Final = 0x00000400
_IN_MOVE_SELF: Final = 0x00000800
_IN_Q_OVERFLOW: Final = 0x00004000
_IN_IGNORED: Final = 0x00008000
_MASK: Final = (
    _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF
)
_GONE: Final = _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_IGNORED  # the directory itself
_HEADER: Final = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)
_MAX_LINKS: Final = 40  # links followed in a row, as the kernel does (then ELOOP)


def _inotify() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1  # noqa: B018 (present?)
    except (OSError, AttributeError):
        return None
    return libc


def _entries(path: str) -> list[tuple[bytes, bytes]]:
    """The directory entries (directory, name) whose change may change the file `path` names:
    its own and, when it is a symbolic link, those of every link it goes through and of the
    file at the end (SQLite opens that file: it resolves the links, and the -wal and -shm are
    beside it). A link in a directory above any of them is not followed (see the module doc)."""
    entries = []
    current = os.path.abspath(path)
    for _ in range(_MAX_LINKS):
        directory, name = os.path.split(current)
        entries.append((os.fsencode(directory), os.fsencode(name)))
        try:
            target = os.readlink(current)
        except OSError:  # not a link (or gone): the end of the chain
            break
        current = os.path.join(directory, target)  # an absolute target replaces the directory
    return entries


class DirWatch:
    """`changed()`: may the directory entry of `path` (or of a link on its way to the file)
    have changed since the last call? A DirWatch not closed closes its descriptor when it is
    garbage-collected, with a ResourceWarning (as an unclosed file does)."""

    __slots__ = ("_always", "_fd", "_libc", "_names", "_path", "_poll")

    def __init__(self, path: str) -> None:
        self._fd = -1
        self._poll: select.poll | None = None
        self._path = path
        self._names: dict[int, set[bytes]] = {}  # watch descriptor: the names in its directory
        self._always = path != ":memory:"  # the answer without a watch (no file: never)
        if not self._always:
            return
        libc = _inotify()
        if libc is None:
            return
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            logger.debug("no inotify (errno %d): stat after every commit", ctypes.get_errno())
            return
        self._fd, self._libc = fd, libc
        if not self._watch():
            self._stop()
            return
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        self._poll = poll

    def _watch(self) -> bool:
        """Watch the directory of each entry of the path's link chain (again after one of
        their names changed: a link pointed elsewhere is followed). False: no watch."""
        for directory, name in _entries(self._path):
            wd = self._libc.inotify_add_watch(self._fd, directory, _MASK)
            if wd < 0:
                logger.debug("no inotify watch (errno %d): stat every commit", ctypes.get_errno())
                return False
            self._names.setdefault(wd, set()).add(name)  # one wd per directory, however named
        return True

    @property
    def watching(self) -> bool:
        """Is inotify watching (False: every `changed()` says True, or no file)?"""
        return self._poll is not None

    def changed(self) -> bool:
        poll = self._poll
        if poll is None:
            return self._always
        if not poll.poll(0):
            return False
        return self._drain()

    def _drain(self) -> bool:
        """Read every queued event; True if one may concern the file."""
        hit = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                if hit and not self._watch():  # where the links lead now
                    self._stop()
                return hit
            except OSError:
                return True
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                start = offset + _HEADER.size
                name = data[start : start + length].rstrip(b"\0")
                offset = start + length
                if mask & _GONE:  # a watched directory is gone: stat from now on
                    self._stop()
                    return True
                if mask & _IN_Q_OVERFLOW or name in self._names.get(wd, ()):
                    hit = True

    def _stop(self) -> None:
        fd, self._fd, self._poll = self._fd, -1, None
        if fd >= 0:
            os.close(fd)

    def close(self) -> None:
        self._stop()
        self._always = False

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) < 0:  # closed (or __init__ failed before it had one)
            return
        self._stop()  # first: the warning may be an error (-W error)
        warnings.warn(
            f"unclosed SQLite session store at {self._path!r} (its inotify descriptor was "
            f"closed when it was garbage-collected): close the store (`await store.aclose()`, "
            f"or open it with `async with`)",
            ResourceWarning,
            stacklevel=2,
            source=self,
        )
