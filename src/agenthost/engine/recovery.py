"""Crash recovery: telling a run whose process died from a run that is still going.

A run is open while its session's last event is not terminal. When a Runner loads such a
session (`run`, `get_session`) and decides the run's owner is gone, it appends
`run.interrupted`, so every reader (and a replay) sees the run end.

**Who owns a run.** The `message.received` event of every run carries `data.owner`:

    {"host": "web-1", "machine": "<boot id>/<pid namespace inode>", "pid": 4242,
     "start": 81234567, "holder": "<uuid4 of the Runner>"}

`machine` names one boot of one kernel and one PID namespace (two containers whose pids
collide differ); `start` is the process's start time in clock ticks since boot (field 22 of
`/proc/<pid>/stat`). A pid number is reused; (machine, pid, start) never is. `holder` is random
per Runner object: it names the lease below and tells "mine" apart from "this process's".

**Is the owner alive?** In this order:

1. `holder` is this Runner: alive only if the run is active here (else it was abandoned).
2. Same `machine` (and /proc readable): alive iff `/proc/<pid>/stat` exists, is not a zombie,
   and shows the same start time. Exact and immediate: a server restarted after `kill -9`
   closes the dead run at once, and a live process that was given the dead one's pid does not
   fool it.
3. Anything else (another host or container, no /proc): the **lease**. Every Runner that is
   entered (`async with runner`, as the server and the CLI do) keeps a lease in the store's
   key/value space (namespace `agenthost.leases`, key = holder, value `{"until": t, ...}`),
   rewritten every `renew_seconds` (10) to now + `lease_seconds` (60) by one task the Runner
   owns, and deleted when it closes. The owner counts as alive while `lease.until`, or the
   run's last stored event time + `lease_seconds`, is in the future: stored events renew the
   lease for free, the heartbeat covers quiet stretches (a long tool call). When a replica
   dies, the others see its lease expire within `lease_seconds` and the next load of the
   session marks the run interrupted. Replicas' clocks must agree to well within that.

**With session leases** (replicas sharing a lease store, engine/locks.py) none of the above
is needed: a run holds its session's lease while it runs, and only the lease holder judges
(`leased=True`). Whoever holds the lease (a new run of the session, or a reader's short
`try_hold`) and finds the session's last run open and not active in its own process knows its
owner is gone (else the owner would still hold the lease), and appends `run.interrupted`.
Only one process holds a lease at a time, with a fencing token that grows with every holder,
so a dead run is closed exactly once, by whichever replica sees it first after its owner's
lease ran out.

**Cost.** Nothing per event: the owner record rides on the one `message.received` event of a
run, and the lease is one KV write per Runner every `renew_seconds`, whatever the number of
runs. Judging costs one /proc read or one KV read, only when a loaded session's last run is
open and not active here.

Records written before this design (`data.runner = "host:pid"`) are judged by pid on the same
host, and a process that started after the run did is not its owner.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Container
from typing import Any, Final

from agenthost.core.events import ErrorInfo, Event
from agenthost.core.session import Session
from agenthost.engine.convert import new_event
from agenthost.ports.leases import Lease
from agenthost.ports.sessions import KeyValueStore, SessionStore

log = logging.getLogger("agenthost.runner")

LEASES: Final = "agenthost.leases"  # no '/': never an agent's namespace ('<app>/<agent id>')
LEASE_SECONDS: Final = 60.0
RENEW_SECONDS: Final = 10.0


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read()
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot); None if there is no live process
    with that pid here (a zombie is dead) or /proc cannot tell."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the name, in parentheses, may hold spaces
    if len(fields) < 20 or fields[0] in ("Z", "X") or not fields[19].isdigit():
        return None
    return int(fields[19])


def _machine() -> str | None:
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    if not boot:
        return None
    return f"{boot.strip()}/{namespace.removeprefix('pid:[').removesuffix(']')}"


_identity: dict[int, dict[str, Any]] = {}
_current: list[dict[str, Any]] = []  # this process's, forgotten in a forked child


def _forked() -> None:
    _current.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def process_identity() -> dict[str, Any]:
    """This process instance: host, machine (None without /proc), pid and start time. Read
    on every run (`data.owner`): kept, so that a run costs no `getpid` system call; a forked
    child computes its own."""
    if _current:
        return _current[0]
    pid = os.getpid()
    found = _identity.get(pid)
    if found is None:
        found = _identity[pid] = {
            "host": socket.gethostname(),
            "machine": _machine(),
            "pid": pid,
            "start": process_start(pid),
        }
    _current.append(found)
    return found


def _received(events: list[Event], run_id: str) -> Event | None:
    for event in reversed(events):
        if event.run_id != run_id:
            return None
        if event.type == "message.received" or event.type == "approval.answered":
            return event  # a run's first event: the user's message, or an approval's answer
    return None


def _boot_time() -> int | None:
    for line in (_read("/proc/stat") or "").splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    return None


def _legacy_alive(runner: str, run_started: float) -> bool:
    """A `host:pid` record: a process with that pid here that started before the run."""
    host, _, pid = runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    start = process_start(int(pid))
    boot = _boot_time()
    if start is not None and boot is not None:
        return boot + start / os.sysconf("SC_CLK_TCK") <= run_started + 1
    try:  # no /proc: all that can be known is whether the pid is taken
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Recovery:
    """One Runner's side of crash recovery: its owner record, its lease and its heartbeat,
    and the judgement of runs other owners left open (see the module doc).

    `start()` writes the lease and starts the heartbeat task; `stop()` cancels and awaits it and
    deletes the lease. Without a key/value store there is no lease: owners on other machines
    then count as alive only while their run's last event is younger than `lease_seconds`.
    """

    def __init__(
        self,
        kv: KeyValueStore | None,
        *,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
        clock: Callable[[], float] = time.time,
        leased: bool = False,
    ) -> None:
        self.kv = kv
        self.leased = leased
        self.holder = uuid.uuid4().hex
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    @property
    def owner(self) -> dict[str, Any]:
        """The record put on each run's `message.received` event (`data.owner`)."""
        return {**process_identity(), "holder": self.holder}

    # ---- the lease ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.kv is None or self.leased or self._task is not None:
            return
        await self.renew()
        self._task = asyncio.create_task(self._beat(), name=f"agenthost-lease-{self.holder}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None or self.kv is None:
            return
        task.cancel()
        await asyncio.wait([task])
        try:
            await self.kv.kv_delete(LEASES, self.holder)
        except Exception as exc:  # it expires anyway
            log.warning("could not delete run lease %s: %s", self.holder, exc)

    async def renew(self) -> None:
        """Write the lease: this holder is alive until now + `lease_seconds`."""
        if self.kv is None:
            return
        now = self.clock()
        identity = process_identity()
        lease = {
            "until": now + self.lease_seconds,
            "renewed": now,
            "host": identity["host"],
            "pid": identity["pid"],
        }
        try:
            await self.kv.kv_set(LEASES, self.holder, lease)
        except Exception as exc:  # a store hiccup: the next beat tries again
            log.warning("could not renew run lease %s: %s", self.holder, exc)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            await self.renew()

    # ---- judging other owners -------------------------------------------------------------

    async def owner_alive(self, events: list[Event], run_id: str, active: Container[str]) -> bool:
        """Whether the open run `run_id` (the last run in `events`) still has a live owner."""
        if run_id in active:
            return True
        if self.leased:  # the caller holds the session's lease: the owner does not
            return False
        received = _received(events, run_id)
        if received is None:
            return False
        data = received.data or {}
        owner = data.get("owner")
        if isinstance(owner, dict):
            return await self._alive(owner, events[-1].timestamp)
        legacy = data.get("runner")
        return isinstance(legacy, str) and _legacy_alive(legacy, received.timestamp)

    async def _alive(self, owner: dict[str, Any], last_seen: float) -> bool:
        if owner.get("holder") == self.holder:
            return False  # ours, and not active here: abandoned
        machine = process_identity()["machine"]
        if machine is not None and owner.get("machine") == machine:
            pid, start = owner.get("pid"), owner.get("start")
            return isinstance(pid, int) and start is not None and process_start(pid) == start
        now = self.clock()
        if last_seen + self.lease_seconds > now:
            return True
        holder = owner.get("holder")
        if self.kv is None or not isinstance(holder, str):
            return False
        lease = await self.kv.kv_get(LEASES, holder)
        until = lease.get("until") if isinstance(lease, dict) else None
        return isinstance(until, int | float) and until > now

    async def close_dangling(
        self,
        store: SessionStore,
        session: Session,
        active: Container[str],
        *,
        fence: Lease | None = None,
    ) -> None:
        """A run whose owner is gone gets its terminal `run.interrupted` event (fenced by the
        caller's lease when given: ports/leases.py)."""
        events = session.events
        if not events or events[-1].is_terminal:
            return
        run_id = events[-1].run_id
        if await self.owner_alive(events, run_id, active):
            return
        log.warning(
            "run %s in session %s was left open; marking it interrupted", run_id, session.id
        )
        closing = [
            new_event(
                "run.interrupted",
                run_id,
                "runner",
                session.key,
                error=ErrorInfo(
                    code="interrupted",
                    message="the process running this run stopped before it finished",
                    retryable=True,
                ),
                data={"status": "interrupted"},
            )
        ]
        if fence is not None:
            await store.append(session, closing, fence=fence)  # type: ignore[call-arg]
            return
        # one process judging at a time is not guaranteed without leases (the CLI and a
        # server on one SQLite file): a store that can stores the end only if none is stored
        close_run = getattr(store, "close_run", None)
        if close_run is None:
            await store.append(session, closing)
        elif not await close_run(session, closing[0]):
            log.info("run %s was closed by another process meanwhile", run_id)
            fresh = await store.get(session.key)
            if fresh is not None and fresh is not session:
                session.events[:] = fresh.events
                session.state = fresh.state
                session.updated_at = fresh.updated_at
