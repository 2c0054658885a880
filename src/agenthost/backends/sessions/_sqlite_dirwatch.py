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


def _inotify() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1  # noqa: B018 (present?)
    except (OSError, AttributeError):
        return None
    return libc


class DirWatch:
    """`changed()`: may the directory entry of `path` have changed since the last call?"""

    __slots__ = ("_always", "_fd", "_name", "_poll")

    def __init__(self, path: str) -> None:
        self._fd = -1
        self._poll: select.poll | None = None
        self._name = os.fsencode(os.path.basename(path))
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
        directory = os.fsencode(os.path.dirname(os.path.abspath(path)))
        if libc.inotify_add_watch(fd, directory, _MASK) < 0:
            logger.debug("no inotify watch (errno %d): stat every commit", ctypes.get_errno())
            os.close(fd)
            return
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        self._fd, self._poll = fd, poll

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
                return hit
            except OSError:
                return True
            offset = 0
            while offset + _HEADER.size <= len(data):
                _wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                start = offset + _HEADER.size
                name = data[start : start + length].rstrip(b"\0")
                offset = start + length
                if mask & _GONE:  # the watch itself is gone: stat from now on
                    self._stop()
                    return True
                if mask & _IN_Q_OVERFLOW or name == self._name:
                    hit = True

    def _stop(self) -> None:
        fd, self._fd, self._poll = self._fd, -1, None
        if fd >= 0:
            os.close(fd)

    def close(self) -> None:
        self._stop()
        self._always = False
