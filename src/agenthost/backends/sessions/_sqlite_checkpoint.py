"""WAL checkpoints on a thread of their own, so that their fsyncs never stall the event loop.

With synchronous=NORMAL a commit only writes the WAL; the fsyncs happen when a checkpoint copies
the WAL back into the database file. SQLite's automatic checkpoint runs inside the commit that
crosses 1000 WAL pages, i.e. on the event loop: that commit took 5-25 ms here, about 70 µs per
append on average. The store turns automatic checkpoints off on its loop connection and calls
`note_write` after each commit instead; about every `CHECKPOINT_PAGES` pages written, one
PASSIVE checkpoint runs on this class's thread and connection (it never blocks writers). If
writes never pause long enough for the WAL to start over and it passes `RESTART_FRAMES`, the
next checkpoint is a RESTART, which makes writers wait while it finishes; the loop connection
blocks at most 2 ms per try and otherwise waits with `asyncio.sleep` (see sqlite.py).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

logger = logging.getLogger("agenthost.sessions.sqlite")

PAGE_SIZE: Final = 4096
CHECKPOINT_PAGES: Final = 1000  # SQLite's own wal_autocheckpoint default
RESTART_FRAMES: Final = 10 * CHECKPOINT_PAGES  # ~40 MB of WAL


class Checkpointer:
    def __init__(self, path: str) -> None:
        self.path = path
        conn = sqlite3.connect(path, timeout=1.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="agenthost-sqlite-checkpoint")
        self._running: Future[None] | None = None
        self._pages = 0  # estimated WAL pages written since the last checkpoint started
        self._wal_frames = 0  # frames in the WAL after the last checkpoint
        self.checkpoints = 0

    def note_write(self, nbytes: int) -> None:
        """Called on the loop after each commit, with about how many bytes it wrote."""
        # Measured WAL frames a commit of a new-session turn (a create and 3 appends): 2.1 with
        # schema v2 (the events table's pages; the create also the session row and its key
        # index), 4.4 with v1 (every append also the events key index and the session row).
        self._pages += 2 + nbytes // PAGE_SIZE
        if self._pages < CHECKPOINT_PAGES:
            return
        if self._running is not None and not self._running.done():
            return
        self._pages = 0
        self._running = self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        mode = "RESTART" if self._wal_frames > RESTART_FRAMES else "PASSIVE"
        try:
            busy, frames, _ = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:  # the next one will try again
            logger.warning("WAL checkpoint (%s) of %s failed: %s", mode, self.path, exc)
            return
        # After a complete RESTART the next commit starts the WAL over.
        self._wal_frames = 0 if mode == "RESTART" and not busy else frames
        self.checkpoints += 1

    async def aclose(self) -> None:
        running, self._running = self._running, None
        try:
            if running is not None:
                await asyncio.wrap_future(running)
        finally:
            self._executor.shutdown(wait=True)  # the thread is done with the connection
            self._conn.close()
