"""SQLite session store (the default): one file, WAL mode, one direct sqlite3 connection.

The connection runs ON THE EVENT LOOP: a measured, deliberate exception to "no blocking I/O on
the loop". Numbers from benchmarks/store_micro.py on the development VM (2 vCPUs, ext4,
SQLite 3.40, Python 3.11; noisy, so read them as ranges):

- The same 3-row append transaction (BEGIN IMMEDIATE, executemany, UPDATE, COMMIT) on a bare
  connection: 46-110 µs on the loop, 130-220 µs through `asyncio.to_thread`; a one-row SELECT:
  4 µs on the loop, 60-80 µs through a thread. A thread (or aiosqlite) hop costs more than the
  SQLite work it would move off the loop.
- This store: `append` of 3 events 60 µs (median), a cached `get` of a session with 600
  events 4-8 µs, a whole agent turn (one get, 7 events in 3 appends) 137 µs median; with 0.5 ms
  pauses where the model calls would be, 240-290 µs median, p99 0.4-0.55 ms (the memory store:
  40 µs; waking from the pauses costs both). A bare HTTP turn is ~1.2 ms.
- Commits are short because synchronous=NORMAL in WAL mode does not fsync on commit: the WAL
  pages go to the OS and the call returns. The fsyncs happen in checkpoints, and SQLite's
  automatic checkpoint runs inside the unlucky commit, on the loop: 5-20 ms here, which put
  the p99 of the paced turn at 5-12 ms. So checkpoints run on a thread with their own
  connection (`_sqlite_checkpoint.py`). It costs ~13 µs per append in a tight write loop
  (48 µs median with inline checkpoints); `background_checkpoint=False` restores SQLite's own.
- Waiting for a lock does not block the loop for long: the busy handler blocks for at most
  2 ms per try; after that the operation is retried with `asyncio.sleep` backoff until
  `busy_timeout` (default 5 s), then BackendUnavailable. Another process writing the same file
  slows our writes down but does not freeze the loop. Many writer processes on one file is
  the point where you want postgresql:// instead.

Group commit: appends to different sessions in the same event-loop tick (many sessions whose
model replies arrived together) share one transaction. An append to the session written last
commits at once (a session's appends come one after another: there is nothing to wait for), as
do the appends to the first two other sessions a tick switches to (one run's last append and
the next run's first, one after another, pay no loop hop); an append to a third one joins a
group that commits in one `BEGIN IMMEDIATE` ... `COMMIT` at the next tick (one loop hop later).
Counting the switches costs a loop callback at the end of a tick that had one, not one per
commit: a run's own appends, each in a tick of its own, schedule none.
`create_with_events` (a new session with its first events) groups the same way. Each `append` still
returns only after ITS events are committed. A batch the store refuses (a missing session, a
value JSON cannot hold) is checked before it writes anything and fails alone; when the group's
transaction itself fails (a lock held by another process, say), each batch is stored on its
own. With 500 sessions at once (benchmarks/concurrency.py: 2,000 writes, a create with the
user's message and three appends each), about 1,950 writes went in 14-19 transactions.

Durability: `append` commits one transaction before it returns, so its events survive a crash
or `kill -9` of this process (the committed WAL pages are in the OS). With synchronous=NORMAL
the newest transactions can be lost on power loss or an OS crash; the file stays consistent.

Schema (version 2, `_sqlite_schema.py`): events are keyed by the integer `sid << 32 | seq`
(the table's rowid) and an append writes only its events (and the session row when it changes
session-scope state): one B-tree page a commit. A version 1 file is refused at open (run
`agenthost db upgrade`) unless `auto_upgrade` (the default file under the home directory).

Cache: a cold `get` of a 600-event session costs 1.5-2.4 ms (reading and decoding every
event), so the store keeps the `Session` objects of the `cache_size` most recently used
sessions (LRU) and checks them with `PRAGMA data_version` (about 3 µs), which changes only when
ANOTHER connection committed. If it did not change, the cached object is current. If it did,
each cached session is refreshed on its next use: its row, only the events with `seq` above the
cached last one (everything if it was deleted and created again meanwhile: another sid or
created_at; events trimmed by the other writer are dropped), and its app/user state: about
43 µs for 3 new events. A new session of the user whose session was used last starts with
that session's app/user state when the data version did not change (no read of the two state
tables).

The `Session` returned by `get` and `create` is the cached object itself, the same one every
time: `append` updates it in place (events appended, state merged, `updated_at`), and an
`app:`/`user:` change made through one session is applied at once to every cached session of
that app/user (a loop over the cache, only when a batch changes those scopes; re-reading both
state tables on every get instead would cost 8-12 µs per get, twice the cached get). Treat it as
read-only: change state through events. Events passed to `append` are kept, not copied (an
event carrying `temp:` keys is stored as a copy without them).

Faults (the file deleted, replaced or damaged under the store) are detected as described in
`_sqlite_health.py`. Use a store from one event loop (thread); it is not thread-safe.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, ParamSpec, Self, TypeVar

import msgspec

from agenthost.backends.common.lifecycle import OpenClose
from agenthost.backends.sessions import _sqlite_sql as sql
from agenthost.backends.sessions._common import (
    Batch,
    Clock,
    StoreOptions,
    apply_batch,
    check_events,
    check_key,
    check_kv,
    decode_json,
    encode_events,
    encode_json,
    initial_state,
    prepare_batch,
    session_exists_error,
    store_not_open_error,
)
from agenthost.backends.sessions._sqlite_checkpoint import Checkpointer
from agenthost.backends.sessions._sqlite_dirwatch import DirWatch
from agenthost.backends.sessions._sqlite_health import FileWatch, IntegrityCheck, translate
from agenthost.backends.sessions._sqlite_rows import (
    CreatePlan,
    Entry,
    Pending,
    Written,
    blob_rows,
    event_rows,
    shared_statements,
)
from agenthost.backends.sessions._sqlite_schema import (
    SCHEMA_VERSION,
    SEQ_MASK,
    file_version,
    make_directory,
    migrate,
    read_version,
    upgrade_file,
    version_of_file,
)
from agenthost.backends.sessions._sqlite_schema import (
    create as create_schema,
)
from agenthost.backends.sessions._sqlite_sql import event_range
from agenthost.core import serde
from agenthost.core.errors import (
    AgentHostError,
    BackendUnavailable,
    ConfigError,
    InvalidArgument,
    SessionNotFound,
    StoreError,
)
from agenthost.core.events import Event
from agenthost.core.session import Session, SessionInfo, SessionKey
from agenthost.core.state import APP_PREFIX, USER_PREFIX, apply_delta, merge_state

logger = logging.getLogger("agenthost.sessions.sqlite")

_BLOCKING_WAIT: Final = 0.002  # seconds the sqlite busy handler may block the loop per try
_IMMEDIATE_SESSIONS: Final = 2  # writes to this many sessions a tick commit at once (no hop)
_SQLITE_BUSY: Final = 5
_SQLITE_LOCKED: Final = 6

_decode_state = msgspec.json.Decoder(dict[str, Any]).decode

_Db = sqlite3.Connection | sqlite3.Cursor  # what the statements run on

_P = ParamSpec("_P")
_T = TypeVar("_T")


def parse_sqlite_url(url: str) -> str:
    """The database path of a sqlite URL (':memory:' for an in-memory database)."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "sqlite" or not sep:
        raise ConfigError(f"Not a sqlite URL: {url!r}. Write sqlite:///relative/path.db.")
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    path = rest[1:] if rest.startswith("/") else ""
    if not path or "?" in path:
        raise ConfigError(
            f"Bad sqlite URL {url!r}: write sqlite:///relative.db, sqlite:////absolute/path.db "
            f"or sqlite://:memory: (query parameters are not supported; pass options instead)."
        )
    return path


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _blob_bytes(blobs: Sequence[bytes]) -> int:
    return sum(len(b) for b in blobs)


def _delete_sid(conn: _Db, sid: int) -> None:
    """Delete a session's row and events (inside the caller's transaction)."""
    conn.execute(sql.DELETE_EVENTS, event_range(sid))
    conn.execute(sql.DELETE_SESSION, (sid,))


class SQLiteSessionStore(OpenClose):
    """Sessions, events, state scopes and KV values in one SQLite file (see the module doc).

    `cache_size` is how many sessions `get` keeps decoded (0 turns the cache off);
    `busy_timeout` is how long (seconds) an operation waits for another process's write lock;
    `integrity_interval` is how often (seconds) `check()` runs `PRAGMA quick_check` (None:
    never; see `_sqlite_health.py`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = "agenthost.db",
        *,
        max_events: int | None = None,
        ttl_seconds: float | None = None,
        clock: Clock = time.time,
        cache_size: int = 128,
        busy_timeout: float = 5.0,
        background_checkpoint: bool = True,
        integrity_interval: float | None = 60.0,
        auto_upgrade: bool = False,
    ) -> None:
        self._options = StoreOptions(max_events=max_events, ttl_seconds=ttl_seconds, clock=clock)
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise InvalidArgument("cache_size", f"must be an integer >= 0, got {cache_size!r}")
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, int | float):
            raise InvalidArgument("busy_timeout", f"must be seconds, got {busy_timeout!r}")
        self.path = os.fspath(path)
        self._cache_size = cache_size
        self._busy_timeout = max(0.0, float(busy_timeout))
        self._background_checkpoint = bool(background_checkpoint)
        self._auto_upgrade = bool(auto_upgrade)
        if integrity_interval is not None and (
            isinstance(integrity_interval, bool)
            or not isinstance(integrity_interval, int | float)
            or integrity_interval < 0
        ):
            raise InvalidArgument(
                "integrity_interval", f"must be seconds >= 0 or None, got {integrity_interval!r}"
            )
        self._integrity = IntegrityCheck(self.path, integrity_interval)
        self._watch = FileWatch(":memory:")  # the file's identity, taken when it is opened
        self._dirwatch = DirWatch(":memory:")  # its directory's names, watched once opened
        self._conn: sqlite3.Connection | None = None
        self._cur: sqlite3.Cursor | None = None  # the write path's statements (no new cursor each)
        self._checkpointer: Checkpointer | None = None
        self._cache: OrderedDict[SessionKey, Entry] = OrderedDict()
        self._data_version = -1
        self._epoch = 0  # bumped whenever another connection has committed
        self._tick_key: SessionKey | None = None  # the session written last at once
        self._tick_sessions = 0  # how many times this loop tick switched to another session
        self._group: builtins.list[Pending] = []  # appends waiting for the group commit

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteSessionStore:
        """`sqlite:///relative.db`, `sqlite:////absolute.db`, `sqlite://:memory:`."""
        return cls(parse_sqlite_url(url), **options)

    def __repr__(self) -> str:
        state = "open" if self._conn is not None else "closed"
        return f"SQLiteSessionStore({self.path!r}, {state})"

    # ---- lifecycle ------------------------------------------------------------------------

    async def open(self) -> Self:
        """Open the database (creating the file, its directory and the schema as needed)."""
        if self._conn is None:
            try:
                self._open()
            except sqlite3.Error as exc:
                await self._retry(exc, self._open)
        return self

    def _open(self) -> None:
        if self.path != ":memory:":
            make_directory(self.path)
        # The file's identity before connect opens it, so that a rename, deletion or
        # replacement between the two, or before the directory watch starts, is seen below.
        watch = FileWatch(self.path)
        conn = sqlite3.connect(self.path, timeout=_BLOCKING_WAIT, isolation_level=None)
        dirwatch: DirWatch | None = None
        try:
            if watch.opened is None:  # connect made the file (none until the line above)
                watch = FileWatch(self.path)
            # Refused (another program's file, another version) before anything is written,
            # the journal mode included: a refused file is left exactly as it was.
            version = self._accept(read_version(conn, self.path))
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal" and self.path != ":memory:":
                logger.warning("SQLite database %s is in %s mode, not WAL", self.path, mode)
            conn.execute("PRAGMA synchronous = NORMAL")
            if version != SCHEMA_VERSION:
                self._create_schema(conn)
            dirwatch = DirWatch(self.path)  # after the file exists: its creation is old news
            watch.settled()  # still the file opened, now that any change of its name is seen
            self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
            checkpointer = None
            if self._background_checkpoint and mode == "wal":
                conn.execute("PRAGMA wal_autocheckpoint = 0")
                checkpointer = Checkpointer(self.path)  # last: nothing can fail after it
        except BaseException as exc:
            if dirwatch is not None:
                dirwatch.close()
            conn.close()
            moved = watch.moved_while_opening() if isinstance(exc, sqlite3.Error) else None
            if moved is not None:  # SQLite's "disk I/O error" on a file deleted under it
                raise moved from exc
            raise
        self._conn = conn
        self._cur = conn.cursor()
        self._tick_key, self._tick_sessions = None, 0  # an end of tick lost with an old loop
        self._checkpointer = checkpointer
        self._watch = watch
        self._dirwatch = dirwatch
        logger.debug("opened SQLite session store %s", self.path)

    def _accept(self, version: int | None) -> int | None:
        """The file's schema version (None: no schema yet) if this store can use it: a newer
        one is refused, an older one unless `auto_upgrade` (the store then migrates it)."""
        if version is not None and version > SCHEMA_VERSION:
            raise ConfigError(
                f"SQLite database {self.path!r} has schema version {version}, newer than "
                f"this agenthost's ({SCHEMA_VERSION}). Upgrade agenthost or use another file."
            )
        if version is not None and version < SCHEMA_VERSION and not self._auto_upgrade:
            raise ConfigError(
                f"SQLite database {self.path!r} has schema version {version}; this "
                f"agenthost needs version {SCHEMA_VERSION}. Run `agenthost db upgrade` "
                f"(with the same config) to migrate it, then start again."
            )
        return version

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        """Make the schema in a new file, or migrate an older one (`auto_upgrade`), in one
        write transaction; the version is read again in it (another process may have written
        since `_accept` passed it)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._accept(file_version(conn, self.path))
            if version is None:
                create_schema(conn)
            elif version < SCHEMA_VERSION:
                migrate(conn, version)
                logger.warning(
                    "upgraded the SQLite session store %s from schema version %d to %d",
                    self.path,
                    version,
                    SCHEMA_VERSION,
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise

    schema_latest: Final = SCHEMA_VERSION

    async def schema_version(self) -> int:
        """The version of the file's schema (0: no file, or no agenthost tables yet)."""
        if self.path == ":memory:":
            return SCHEMA_VERSION if self._conn is not None else 0
        try:
            return await asyncio.to_thread(version_of_file, self.path, self._busy_timeout)
        except sqlite3.Error as exc:
            raise translate(self.path, exc) from exc

    async def upgrade(self) -> builtins.list[int]:
        """Migrate the file to this agenthost's schema (`agenthost db upgrade`) in one
        transaction, so a crash part way leaves it as it was; the versions applied (none when
        it is current: a new file gets the current schema). Run it while no agenthost process
        uses the file."""
        if self.path == ":memory:" or self._conn is not None:
            return []  # open: at SCHEMA_VERSION (open checks it)
        try:
            return await asyncio.to_thread(upgrade_file, self.path, self._busy_timeout)
        except sqlite3.Error as exc:
            raise translate(self.path, exc) from exc

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        self._cur = None
        checkpointer, self._checkpointer = self._checkpointer, None
        self._cache.clear()
        self._dirwatch.close()
        try:
            if checkpointer is not None:
                await checkpointer.aclose()
        finally:
            if conn is not None:
                conn.close()  # the last connection to close checkpoints and removes the WAL

    async def check(self) -> None:
        """Readiness: StoreError when the store is closed, its file was deleted or replaced,
        the database cannot be read, or `PRAGMA quick_check` (run at most every
        `integrity_interval` seconds, on a thread) finds it damaged."""
        if self._conn is None:
            raise StoreError(f"The SQLite session store at {self.path!r} is not open.")
        self._watch.verify()
        try:
            self._ping()
        except sqlite3.Error as exc:
            await self._retry(exc, self._ping)
        await self._integrity.run(self._connection(), self._watch.file)

    async def ping(self) -> None:
        """The older name of `check()`."""
        await self.check()

    def _ping(self) -> None:
        self._connection().execute("SELECT 1 FROM schema_version LIMIT 1").fetchall()

    def _wrote(self, nbytes: int = 0) -> None:
        """After each write committed: is it in the file at our path (checked with `os.stat`
        when the directory watch saw a change of names, or has no inotify)? Checkpointing."""
        if self._dirwatch.changed():
            self._watch.verify()
        if self._checkpointer is not None:
            self._checkpointer.note_write(nbytes)

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            raise store_not_open_error(f"SQLite session store at {self.path!r}")
        self._watch.usable()
        return conn

    def _cursor(self) -> sqlite3.Cursor:
        """The write path's cursor (Connection.execute makes a new cursor every call)."""
        self._connection()  # open, not lost
        cur = self._cur
        assert cur is not None  # set and cleared with _conn
        return cur

    # ---- errors and lock waits ------------------------------------------------------------

    async def _retry(
        self, exc: sqlite3.Error, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """Run `fn` again while the database is locked by another process, sleeping between
        tries, up to `busy_timeout`; translate any other sqlite error at this seam."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout
        delay = 0.001
        while _is_busy(exc):
            if loop.time() >= deadline:
                raise BackendUnavailable(
                    f"SQLite database {self.path!r} stayed locked by another connection for "
                    f"{self._busy_timeout}s. Let one process write a file at a time, raise "
                    f"busy_timeout, or use a server database (postgresql://)."
                ) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            try:
                return fn(*args, **kwargs)
            except sqlite3.Error as again:
                exc = again
        raise translate(self.path, exc) from exc

    # ---- cache ----------------------------------------------------------------------------

    def _sync_external(self, conn: _Db) -> None:
        """Bump the epoch (making every cached session stale) if another connection wrote."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self._epoch += 1

    def _remember(self, key: SessionKey, entry: Entry) -> None:
        if self._cache_size == 0:
            return
        cache = self._cache
        cache[key] = entry
        cache.move_to_end(key)
        while len(cache) > self._cache_size:
            cache.popitem(last=False)

    @staticmethod
    def _read_shared(conn: _Db, app: str, user_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        app_state = {
            k: decode_json(v)
            for k, v in conn.execute("SELECT key, value FROM app_state WHERE app = ?", (app,))
        }
        user_state = {
            k: decode_json(v)
            for k, v in conn.execute(
                "SELECT key, value FROM user_state WHERE app = ? AND user_id = ?", (app, user_id)
            )
        }
        return app_state, user_state

    def _load(self, conn: _Db, key: SessionKey) -> Entry | None:
        """Read a whole session (inside the caller's transaction); None if missing or expired."""
        row = conn.execute(sql.SELECT_SESSION, key).fetchone()
        if row is None:
            return None
        sid, state_blob, created_at, updated_at = row
        options = self._options
        if options.ttl_seconds is not None and options.is_expired(updated_at, options.clock()):
            return None  # not worth decoding
        decode_event = serde.decode_event
        rows = conn.execute(sql.SELECT_EVENTS, event_range(sid))
        events = [decode_event(data) for (data,) in rows]
        app_state, user_state = self._read_shared(conn, key[0], key[1])
        own = _decode_state(state_blob)
        session = Session(
            app=key[0],
            user_id=key[1],
            id=key[2],
            state=merge_state(app_state, user_state, own),
            events=events,
            created_at=created_at,
            updated_at=updated_at,
        )
        return Entry(session, own, sid, self._epoch)

    def _refresh(self, conn: _Db, key: SessionKey, entry: Entry) -> Entry | None:
        """Bring a stale cached session up to date (inside the caller's transaction)."""
        row = conn.execute(sql.SELECT_REFRESH, key).fetchone()
        if row is None:
            return None
        sid, created_at, state_blob, updated_at, last_seq, first_seq = row
        session = entry.session
        if sid != entry.sid or created_at != session.created_at or last_seq < session.last_seq:
            return self._load(conn, key)  # deleted and created again meanwhile
        new_events: list[Event] = []
        if last_seq > session.last_seq:
            decode_event = serde.decode_event
            after = event_range(sid, session.last_seq + 1)
            new_events = [
                decode_event(data) for (data,) in conn.execute(sql.SELECT_EVENTS_AFTER, after)
            ]
        app_state, user_state = self._read_shared(conn, key[0], key[1])
        own = _decode_state(state_blob)
        # Everything is read: update the cached objects in place.
        events = session.events
        events.extend(new_events)
        if first_seq is None:
            events.clear()
        elif events and events[0].seq < first_seq:  # trimmed by another connection
            keep = next(i for i, e in enumerate(events) if e.seq >= first_seq)
            del events[:keep]
        session.state.clear()
        session.state.update(merge_state(app_state, user_state, own))
        session.updated_at = updated_at
        entry.own = own
        entry.epoch = self._epoch
        return entry

    def _spread_shared(
        self,
        app: str,
        user_id: str,
        app_delta: Mapping[str, Any],
        user_delta: Mapping[str, Any],
        skip: Entry | None,
    ) -> None:
        """Apply an app:/user: change to the other cached sessions it is visible in."""
        prefixed_app = {APP_PREFIX + k: v for k, v in app_delta.items()}
        prefixed_user = {USER_PREFIX + k: v for k, v in user_delta.items()}
        for key, entry in self._cache.items():
            if entry is skip or key[0] != app:
                continue
            if prefixed_app:
                apply_delta(entry.session.state, prefixed_app)
            if prefixed_user and key[1] == user_id:
                apply_delta(entry.session.state, prefixed_user)

    # ---- sessions -------------------------------------------------------------------------

    async def get(self, key: SessionKey) -> Session | None:
        try:
            return self._get(key)
        except sqlite3.Error as exc:
            return await self._retry(exc, self._get, key)

    def _get(self, key: SessionKey) -> Session | None:
        conn = self._connection()
        self._sync_external(conn)
        entry = self._cache.get(key)
        if entry is None or entry.epoch != self._epoch:
            conn.execute("BEGIN")  # one snapshot for the reads
            try:
                entry = self._load(conn, key) if entry is None else self._refresh(conn, key, entry)
                conn.execute("COMMIT")
            except BaseException:
                conn.rollback()
                raise
            if entry is None:
                self._cache.pop(key, None)
                return None
            self._remember(key, entry)
        else:
            self._cache.move_to_end(key)
        options = self._options
        if options.ttl_seconds is not None and options.is_expired(
            entry.session.updated_at, options.clock()
        ):
            self._cache.pop(key, None)
            return None
        return entry.session

    async def create(self, key: SessionKey, *, state: dict[str, Any] | None = None) -> Session:
        key = SessionKey(*key)
        check_key(key)
        app_delta, user_delta, own = initial_state(state)
        own = {k: v for k, v in own.items() if v is not None}
        return await self._create_retrying(key, own, app_delta, user_delta, ())

    async def create_with_events(self, key: SessionKey, events: Sequence[Event]) -> Session:
        """Create the session and store its first events in ONE transaction (the runner's new
        session and its user message: one commit instead of two); group-committed like
        `append`."""
        key = SessionKey(*key)
        check_key(key)
        check_events(events, key)
        if self._grouping(key):
            plan = self._plan_create(key, {}, {}, {}, events)
            outcome = await self._join_group(Pending(None, events, plan))
            if isinstance(outcome, Session):
                return outcome
        return await self._create_retrying(key, {}, {}, {}, events)

    async def _create_retrying(
        self,
        key: SessionKey,
        own: dict[str, Any],
        app_delta: dict[str, Any],
        user_delta: dict[str, Any],
        events: Sequence[Event],
    ) -> Session:
        try:
            return self._create(key, own, app_delta, user_delta, events)
        except sqlite3.Error as exc:
            return await self._retry(exc, self._create, key, own, app_delta, user_delta, events)

    def _plan_create(
        self,
        key: SessionKey,
        own: dict[str, Any],
        app_delta: dict[str, Any],
        user_delta: dict[str, Any],
        events: Sequence[Event],
    ) -> CreatePlan:
        """Everything a create writes, encoded (InvalidArgument here, before any write)."""
        batch = prepare_batch(events, 0)
        if batch.has_state:  # the events' deltas, after the initial state
            own = dict(own)
            apply_delta(own, batch.session_delta)
            app_delta = {**app_delta, **batch.app_delta}
            user_delta = {**user_delta, **batch.user_delta}
        return CreatePlan(
            key=key,
            own=own,
            own_blob=encode_json("state", own),
            app_delta=app_delta,
            user_delta=user_delta,
            shared=shared_statements(key[0], key[1], app_delta, user_delta),
            batch=batch,
            blobs=encode_events(batch.events) if batch.events else [],
            now=self._options.clock(),
        )

    def _create(
        self,
        key: SessionKey,
        own: dict[str, Any],
        app_delta: dict[str, Any],
        user_delta: dict[str, Any],
        events: Sequence[Event],
    ) -> Session:
        cur = self._cursor()
        plan = self._plan_create(key, own, app_delta, user_delta, events)
        cur.execute("BEGIN IMMEDIATE")
        try:
            self._sync_external(cur)
            cached = self._cached_shared(key)
            written = self._write_create(cur, plan, read_shared=cached is None)
            cur.execute("COMMIT")
        except BaseException:
            cur.connection.rollback()
            raise
        self._wrote(_blob_bytes(plan.blobs))
        return self._created(plan, *written, cached=cached)

    def _cached_shared(self, key: SessionKey) -> dict[str, Any] | None:
        """The `app:`/`user:` part of the state of the most recently used cached session of
        the same app and user, when it is current (no other connection wrote since): what a
        new session of that user starts with, without reading both state tables (two SELECTs
        a new-session turn). Not used by the group commit, whose later writes in the same
        transaction could change the state before this session is cached."""
        cache = self._cache
        if not cache:
            return None
        last = next(reversed(cache))
        if last[0] != key[0] or last[1] != key[1]:
            return None
        entry = cache[last]
        if entry.epoch != self._epoch:
            return None
        return {
            k: v
            for k, v in entry.session.state.items()
            if k.startswith(APP_PREFIX) or k.startswith(USER_PREFIX)
        }

    def _write_create(
        self, conn: _Db, plan: CreatePlan, *, read_shared: bool = True
    ) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """Inside the caller's transaction: the session row, its events, app/user state; the
        sid and the app/user state as they are now (unless not `read_shared`: empty).
        SessionExists before any write."""
        key = plan.key
        sid = self._insert_session(conn, key, plan.own_blob, plan.now)
        if plan.blobs:
            rows = blob_rows(sid, plan.batch.events, plan.now, plan.blobs)
            conn.executemany(sql.INSERT_EVENT, rows)
        for statement, params in plan.shared:
            conn.execute(statement, params)
        if not read_shared:
            return sid, {}, {}
        app_state, user_state = self._read_shared(conn, key[0], key[1])
        return sid, app_state, user_state

    def _created(
        self,
        plan: CreatePlan,
        sid: int,
        app_state: dict[str, Any],
        user_state: dict[str, Any],
        *,
        cached: dict[str, Any] | None = None,
    ) -> Session:
        """After the commit: the Session handed out, cached, its app/user state spread.
        `cached`: the app/user state before this create (`_cached_shared`), instead of
        `app_state` and `user_state` read after its writes."""
        app, user_id, session_id = plan.key
        events = list(plan.batch.events)
        limit = self._options.max_events
        if limit is not None and len(events) > limit:  # as `get` and `append` keep it
            events = events[len(events) - limit :]
        if cached is None:
            state = merge_state(app_state, user_state, plan.own)
        else:
            state = dict(plan.own)
            state.update(cached)
            if plan.app_delta or plan.user_delta:
                apply_delta(state, merge_state(plan.app_delta, plan.user_delta, {}))
        session = Session(
            app=app,
            user_id=user_id,
            id=session_id,
            state=state,
            events=events,
            created_at=plan.now,
            updated_at=plan.now,
        )
        entry = Entry(session, dict(plan.own), sid, self._epoch)
        self._remember(plan.key, entry)
        if plan.app_delta or plan.user_delta:
            self._spread_shared(app, user_id, plan.app_delta, plan.user_delta, skip=entry)
        return session

    def _insert_session(
        self,
        conn: _Db,
        key: SessionKey,
        own_blob: bytes,
        now: float,
    ) -> int:
        """Insert the session row (replacing an expired one); its sid. Inside a transaction."""
        params = (*key, own_blob, now, now)
        try:
            cursor = conn.execute(sql.INSERT_SESSION, params)
        except sqlite3.IntegrityError:  # the key is taken: by an expired session?
            row = conn.execute(sql.SELECT_UPDATED, key).fetchone()
            if row is None or not self._options.is_expired(row[0], now):
                raise session_exists_error(key) from None
            self._delete_rows(conn, key)
            cursor = conn.execute(sql.INSERT_SESSION, params)
        return cursor.lastrowid or 0

    async def append(self, session: Session, events: Sequence[Event]) -> None:
        """Store the events; returns once they are committed (see "Group commit" above)."""
        key = SessionKey(session.app, session.user_id, session.id)
        check_events(events, key)
        if not events:
            return
        if self._grouping(key) and await self._join_group(Pending(session, events, None)) is True:
            return
        try:
            self._append(session, key, events)
        except sqlite3.Error as exc:
            await self._retry(exc, self._append, session, key, events)

    async def close_run(self, session: Session, event: Event) -> bool:
        """Store a run's terminal `event` unless that run has one stored already (another
        process sharing the file closed it first): the check and the write are one
        transaction. True when stored (engine/recovery.py)."""
        check_events([event], session.key)
        try:
            return self._close_run(session, event)
        except sqlite3.Error as exc:
            return await self._retry(exc, self._close_run, session, event)

    def _close_run(self, session: Session, event: Event) -> bool:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._sync_external(conn)
            row = conn.execute(sql.SELECT_SID, session.key).fetchone()
            ended = row is not None and (
                conn.execute(sql.RUN_ENDED, (*event_range(row[0]), event.run_id)).fetchone()
            )
            if ended:
                conn.rollback()
                return False
            w = self._write_batch(conn, session, [event])
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        self._wrote(w.nbytes)
        self._after_append(session, w.entry, w.batch, w.new_own, w.now)
        return True

    def _grouping(self, key: SessionKey) -> bool:
        """Does a write to this session wait for the group commit? Yes when it is not the
        session written last and this loop tick already switched to IMMEDIATE_SESSIONS other
        sessions. Otherwise it commits at once, and a switch to it is counted."""
        if key == self._tick_key:  # the common case: a run's writes one after another
            return False
        if self._tick_sessions >= _IMMEDIATE_SESSIONS:
            return True
        if not self._tick_sessions:  # the first switch of this tick: count until it ends
            asyncio.get_running_loop().call_soon(self._end_tick)
        self._tick_key = key
        self._tick_sessions += 1
        return False

    def _end_tick(self) -> None:
        self._tick_sessions = 0  # the session written last stays: its next write is free

    async def _join_group(self, pending: Pending) -> object:
        """Wait for the group commit of this loop tick's writes (one transaction): True or
        the created Session when stored, False when the group failed and the caller must
        write alone; an exception when the store refused this write."""
        if not self._group:
            asyncio.get_running_loop().call_soon(self._commit_group)
        self._group.append(pending)
        return await pending.waiter

    def _commit_group(self) -> None:
        """Commit every waiting write in one transaction and tell each waiter its outcome."""
        group, self._group = [p for p in self._group if not p.waiter.done()], []
        if not group:
            return
        try:
            outcomes = self._write_group(group)
        except sqlite3.Error:  # each stores its own, with retries and translated errors
            outcomes = {id(p): False for p in group}
        except Exception as exc:  # closed, the file lost: nobody's write is stored
            outcomes = {id(p): exc for p in group}
        for pending in group:
            if not pending.waiter.done():  # cancelled meanwhile
                outcome = outcomes.get(id(pending), True)
                if isinstance(outcome, BaseException):
                    pending.waiter.set_exception(outcome)
                else:
                    pending.waiter.set_result(outcome)

    def _write_group(self, group: builtins.list[Pending]) -> dict[int, object]:
        """One transaction for many sessions' writes; by id() of each: what refused it, or
        the Session it created."""
        conn = self._cursor()
        outcomes: dict[int, object] = {}
        done: builtins.list[tuple[Pending, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._sync_external(conn)
            for p in group:
                try:  # everything that refuses a write does so before it writes anything
                    if p.plan is not None:
                        done.append((p, self._write_create(conn, p.plan)))
                    else:
                        assert p.session is not None
                        done.append((p, self._write_batch(conn, p.session, p.events)))
                except AgentHostError as exc:
                    outcomes[id(p)] = exc
            conn.execute("COMMIT")
        except BaseException:
            conn.connection.rollback()
            raise
        self._wrote(sum(_blob_bytes(p.plan.blobs) if p.plan else w.nbytes for p, w in done))
        for p, w in done:
            if p.plan is not None:
                outcomes[id(p)] = self._created(p.plan, *w)
            else:
                assert p.session is not None
                self._after_append(p.session, w.entry, w.batch, w.new_own, w.now)
        return outcomes

    def _append(self, session: Session, key: SessionKey, events: Sequence[Event]) -> None:
        cur = self._cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            self._sync_external(cur)
            w = self._write_batch(cur, session, events, key)
            cur.execute("COMMIT")
        except BaseException:
            cur.connection.rollback()
            raise
        # Stored (and safe from a process crash). Now the objects handed out.
        self._wrote(w.nbytes)
        self._after_append(session, w.entry, w.batch, w.new_own, w.now, key)

    def _write_batch(
        self,
        conn: _Db,
        session: Session,
        events: Sequence[Event],
        key: SessionKey | None = None,
    ) -> Written:
        """Write one session's batch inside the caller's transaction. Everything that can
        refuse the batch (a missing session, a value JSON cannot hold) is checked before the
        first write, so a refused batch leaves the transaction as it found it."""
        options = self._options
        limit = options.max_events
        if key is None:
            key = session.key
        entry = self._cache.get(key)
        if entry is not None and entry.epoch != self._epoch:
            entry = self._refresh(conn, key, entry)
            if entry is None:
                self._cache.pop(key, None)
            else:
                self._remember(key, entry)
        own: dict[str, Any] | bytes  # the session scope, or its JSON when not cached
        if entry is not None:
            sid = entry.sid
            updated_at = entry.session.updated_at
            last_seq = entry.session.last_seq
            stored = len(entry.session.events)
            own = entry.own
        else:
            row = conn.execute(sql.SELECT_FOR_APPEND, key).fetchone()
            if row is None:
                raise SessionNotFound(session.id)
            sid, own, updated_at, last_seq, first_seq = row
            stored = 0 if first_seq is None else last_seq - first_seq + 1
        now = options.clock()
        if options.is_expired(updated_at, now):
            raise SessionNotFound(session.id)
        batch = prepare_batch(events, last_seq)
        if batch.last_seq > SEQ_MASK:  # its pk would fall in the next sid's range
            raise StoreError(
                f"Session {session.id!r} in {self.path!r} reached event seq {SEQ_MASK}, the "
                f"most a SQLite session holds. Start a new session."
            )
        rows, nbytes = event_rows(sid, batch.events, now)
        shared = (
            shared_statements(key[0], key[1], batch.app_delta, batch.user_delta)
            if batch.app_delta or batch.user_delta
            else ()
        )
        new_own: dict[str, Any] | None = None
        blob = b""
        if batch.session_delta:
            new_own = dict(own) if isinstance(own, dict) else _decode_state(own)
            apply_delta(new_own, batch.session_delta)
            blob = encode_json("state_delta", new_own)
        # nothing was written up to here
        if len(rows) == 1:
            conn.execute(sql.INSERT_EVENT, rows[0])
        else:
            conn.executemany(sql.INSERT_EVENT, rows)
        if limit is not None and stored + len(batch.events) > limit:
            conn.execute(sql.DELETE_EVENTS, event_range(sid, 0, batch.last_seq - limit))
        for statement, params in shared:
            conn.execute(statement, params)
        if new_own is not None:  # the only append that writes the session row
            conn.execute(sql.UPDATE_SESSION_STATE, (blob, now, sid))
        return Written(entry, batch, nbytes, new_own, now)

    def _after_append(
        self,
        session: Session,
        entry: Entry | None,
        batch: Batch,
        new_own: dict[str, Any] | None,
        now: float,
        key: SessionKey | None = None,
    ) -> None:
        limit = self._options.max_events
        if entry is not None:
            apply_batch(entry.session, batch, now=now, max_events=limit)
            if new_own is not None:
                entry.own = new_own
            self._cache.move_to_end(session.key if key is None else key)
        if entry is None or session is not entry.session:
            apply_batch(session, batch, now=now, max_events=limit)
        if batch.app_delta or batch.user_delta:
            self._spread_shared(
                session.app, session.user_id, batch.app_delta, batch.user_delta, skip=entry
            )

    async def list(self, *, app: str, user_id: str) -> list[SessionInfo]:
        try:
            return self._list(app, user_id)
        except sqlite3.Error as exc:
            return await self._retry(exc, self._list, app, user_id)

    def _list(self, app: str, user_id: str) -> builtins.list[SessionInfo]:
        conn = self._connection()
        cutoff = self._options.cutoff(self._options.clock())
        query = sql.LIST
        params: tuple[Any, ...] = (app, user_id)
        if cutoff is not None:
            query += "WHERE updated >= ? "
            params += (cutoff,)
        return [
            SessionInfo(
                app=app,
                user_id=user_id,
                id=session_id,
                created_at=created_at,
                updated_at=updated_at,
                event_count=event_count,
            )
            for session_id, created_at, updated_at, event_count in conn.execute(
                query + sql.LIST_ORDER, params
            )
        ]

    async def delete(self, key: SessionKey) -> None:
        key = SessionKey(*key)
        try:
            self._delete(key)
        except sqlite3.Error as exc:
            await self._retry(exc, self._delete, key)

    def _delete(self, key: SessionKey) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._delete_rows(conn, key)
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        self._wrote()
        self._cache.pop(key, None)

    @staticmethod
    def _delete_rows(conn: _Db, key: SessionKey) -> None:
        row = conn.execute(sql.SELECT_SID, key).fetchone()
        if row is not None:
            _delete_sid(conn, row[0])

    async def purge_expired(self) -> int:
        """Delete every session expired by TTL (and its events); returns how many."""
        try:
            return self._purge_expired()
        except sqlite3.Error as exc:
            return await self._retry(exc, self._purge_expired)

    def _purge_expired(self) -> int:
        conn = self._connection()
        cutoff = self._options.cutoff(self._options.clock())
        if cutoff is None:
            return 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            expired = [sid for (sid,) in conn.execute(sql.SELECT_EXPIRED, (cutoff,)).fetchall()]
            for sid in expired:
                _delete_sid(conn, sid)
            count = len(expired)
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        self._wrote()
        for key in [k for k, e in self._cache.items() if e.session.updated_at < cutoff]:
            del self._cache[key]
        return count

    # ---- key/value ------------------------------------------------------------------------

    async def kv_get(self, namespace: str, key: str) -> Any | None:
        check_kv(namespace, key)
        try:
            return self._kv_get(namespace, key)
        except sqlite3.Error as exc:
            return await self._retry(exc, self._kv_get, namespace, key)

    def _kv_get(self, namespace: str, key: str) -> Any | None:
        row = (
            self._connection()
            .execute("SELECT value FROM kv WHERE namespace = ? AND key = ?", (namespace, key))
            .fetchone()
        )
        return None if row is None else decode_json(row[0])

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value; None deletes the key."""
        check_kv(namespace, key)
        if value is None:
            await self.kv_delete(namespace, key)
            return
        blob = encode_json("value", value)
        try:
            self._kv_set(namespace, key, blob)
        except sqlite3.Error as exc:
            await self._retry(exc, self._kv_set, namespace, key, blob)

    def _kv_set(self, namespace: str, key: str, blob: bytes) -> None:
        self._connection().execute(
            "INSERT INTO kv (namespace, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            (namespace, key, blob),
        )
        self._wrote(len(blob))

    async def kv_delete(self, namespace: str, key: str) -> None:
        check_kv(namespace, key)
        try:
            self._kv_delete(namespace, key)
        except sqlite3.Error as exc:
            await self._retry(exc, self._kv_delete, namespace, key)

    def _kv_delete(self, namespace: str, key: str) -> None:
        self._connection().execute(
            "DELETE FROM kv WHERE namespace = ? AND key = ?", (namespace, key)
        )
        self._wrote()

    async def kv_keys(self, namespace: str) -> builtins.list[str]:
        check_kv(namespace)
        try:
            return self._kv_keys(namespace)
        except sqlite3.Error as exc:
            return await self._retry(exc, self._kv_keys, namespace)

    def _kv_keys(self, namespace: str) -> builtins.list[str]:
        rows = self._connection().execute(
            "SELECT key FROM kv WHERE namespace = ? ORDER BY key", (namespace,)
        )
        return [key for (key,) in rows]
