"""Per-session serialization with a busy policy (what to do with a second message).

- `queue` (default): wait for the active run to finish, then run (FIFO; across processes
  with a queue-keeping lease store, see below).
- `reject`: raise `SessionBusy` at once; nothing is stored.
- `interrupt`: cancel the active run (it ends with `run.failed`, code `interrupted`), then run.

**One process** (no lease store: the memory and SQLite stores): an asyncio lock per session,
nothing else; no I/O, so a run pays nothing for it.

**Replicas** (`SessionLocks(leases)`: a lease store shared by every process, see
ports/leases.py; the Postgres, MySQL and Redis stores have one): the same local lock first
(runs of one process queue in order without touching the store), then the session's lease,
held by the run (holder = run id) for as long as it runs:

- taken at once when free; when another process holds it, `reject` raises SessionBusy,
  `queue` polls until it is free (backoff from 20 ms to `poll_max`), `interrupt` asks the
  holder to stop (`LeaseStore.interrupt`) and then polls like `queue`; with a store that
  keeps a queue of waiters (`LeaseQueue`: Postgres, MySQL, Redis) a run that has to wait takes a
  ticket when it arrives (at once when a run of this process holds the session, else when
  the lease is found taken) and the lease goes to the oldest live ticket: arrival order
  across replicas, and a newcomer does not jump the queue;
- renewed every `renew_seconds` by a task that lives as long as the hold (structured: it is
  cancelled when the run ends); a renewal that reports an interrupt request, or that finds
  the lease lost (it ran out and another process took it: its fencing token is no longer
  current), interrupts the run here, so it ends `interrupted` instead of writing on;
- released when the run ends. A process that dies keeps it until it runs out
  (`lease_seconds`); then the next process to take it finds the dead run open and marks it
  interrupted (engine/recovery.py): only the lease holder may, so it happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final, Literal
from urllib.parse import quote

from agenthost.core.errors import SessionBusy
from agenthost.core.session import SessionKey
from agenthost.ports.leases import Lease, LeaseQueue, LeaseStore

log = logging.getLogger("agenthost.runner")

BusyPolicy = Literal["queue", "reject", "interrupt"]
BUSY_POLICIES: tuple[BusyPolicy, ...] = ("queue", "reject", "interrupt")

LEASE_SECONDS: Final = 20.0
RENEW_SECONDS: Final = 2.0
POLL_MAX: Final = 0.5
INTERRUPT_REASON: Final = "a newer message interrupted it"


def lease_name(key: SessionKey) -> str:
    """The lease of a session: `session:<app>/<user>/<session>`, each part URL-quoted."""
    return "session:" + "/".join(quote(part, safe="") for part in key)


def store_leases(store: object) -> LeaseStore | None:
    """The lease store of a session store that has one (`store.leases()`), else None."""
    make = getattr(store, "leases", None)
    leases = make() if callable(make) else None
    return leases if isinstance(leases, LeaseStore) else None


class _Slot:
    __slots__ = ("lock", "run_id", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.run_id: str | None = None


class _LocalHold:
    """`SessionLocks.hold` without a lease store, as a class: the steps of `_hold` when
    there is no lease and no queue (the same order: wait for the lock, hold it, release it,
    drop the slot when its last user leaves), without an async generator per run."""

    __slots__ = ("_interrupt", "_key", "_locks", "_policy", "_run_id", "_slot")

    def __init__(
        self,
        locks: SessionLocks,
        key: SessionKey,
        policy: BusyPolicy,
        run_id: str,
        interrupt: Callable[[str], None],
    ) -> None:
        self._locks = locks
        self._key = key
        self._policy = policy
        self._run_id = run_id
        self._interrupt = interrupt
        self._slot: _Slot | None = None

    async def __aenter__(self) -> None:
        slots = self._locks._slots
        slot = slots.get(self._key)
        if slot is None:
            slot = slots[self._key] = _Slot()
        if slot.lock.locked():
            if self._policy == "reject":
                raise SessionBusy(self._key.session_id, slot.run_id)
            if self._policy == "interrupt" and slot.run_id is not None:
                self._interrupt(slot.run_id)
        slot.users += 1
        try:
            await slot.lock.acquire()
        except BaseException:
            self._leave(slot)
            raise
        slot.run_id = self._run_id
        self._slot = slot

    async def __aexit__(self, *exc_info: object) -> None:
        slot = self._slot
        assert slot is not None
        self._slot = None
        slot.run_id = None
        slot.lock.release()
        self._leave(slot)

    def _leave(self, slot: _Slot) -> None:
        slot.users -= 1
        if slot.users == 0:
            self._locks._slots.pop(self._key, None)


class SessionLocks:
    def __init__(
        self,
        leases: LeaseStore | None = None,
        *,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
        poll_max: float = POLL_MAX,
    ) -> None:
        self._slots: dict[SessionKey, _Slot] = {}
        self.leases = leases
        # waiters in arrival order across processes, when the store keeps a queue
        self._queue: LeaseQueue | None = leases if isinstance(leases, LeaseQueue) else None
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.poll_max = poll_max

    def active_run(self, key: SessionKey) -> str | None:
        slot = self._slots.get(key)
        return slot.run_id if slot is not None else None

    def is_locked(self, key: SessionKey) -> bool:
        slot = self._slots.get(key)
        return slot is not None and slot.lock.locked()

    def hold(
        self,
        key: SessionKey,
        *,
        policy: BusyPolicy,
        run_id: str,
        interrupt: Callable[[str], None],
    ) -> AbstractAsyncContextManager[Lease | None]:
        """Hold the session for one run; gives its lease (None without a lease store), whose
        token fences the run's appends (ports/leases.py)."""
        if self.leases is None:  # this process's lock only: no generator to drive
            return _LocalHold(self, key, policy, run_id, interrupt)
        return self._hold(key, policy=policy, run_id=run_id, interrupt=interrupt)

    @asynccontextmanager
    async def _hold(
        self,
        key: SessionKey,
        *,
        policy: BusyPolicy,
        run_id: str,
        interrupt: Callable[[str], None],
    ) -> AsyncIterator[Lease | None]:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        ticket: int | None = None
        if slot.lock.locked():
            if policy == "reject":
                raise SessionBusy(key.session_id, slot.run_id)
            if policy == "interrupt" and slot.run_id is not None:
                interrupt(slot.run_id)
            ticket = await self._enqueue(key, run_id)  # its turn across replicas: arrival
        slot.users += 1
        touching = self._touching(key, ticket)
        try:
            async with slot.lock:
                await _stop(touching)
                slot.run_id = run_id
                try:
                    if self.leases is None:
                        yield None
                    else:
                        async with self._leased(key, policy, run_id, interrupt, ticket) as lease:
                            ticket = None  # served: it left the queue
                            yield lease
                finally:
                    slot.run_id = None
        finally:
            await _stop(touching)
            if ticket is not None:  # gave up waiting
                await self._dequeue(lease_name(key), ticket)
            slot.users -= 1
            if slot.users == 0:
                self._slots.pop(key, None)

    # ---- across processes -----------------------------------------------------------------

    @asynccontextmanager
    async def _leased(
        self,
        key: SessionKey,
        policy: BusyPolicy,
        run_id: str,
        interrupt: Callable[[str], None],
        ticket: int | None = None,
    ) -> AsyncIterator[Lease]:
        lease = await self._acquire(key, policy, run_id, ticket)
        renewing = asyncio.get_running_loop().create_task(
            self._renew(lease, interrupt), name=f"agenthost lease {run_id}"
        )
        try:
            yield lease
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await self._release(lease)

    async def _acquire(
        self, key: SessionKey, policy: BusyPolicy, run_id: str, ticket: int | None = None
    ) -> Lease:
        """Take the lease, waiting per the policy; with a queue (LeaseQueue) in turn: a run
        that has to wait takes a ticket, and the lease goes to the oldest live ticket."""
        assert self.leases is not None
        queue = self._queue
        name = lease_name(key)
        delay = 0.02
        asked = False
        try:
            while True:
                if queue is None:
                    lease = await self.leases.acquire(name, run_id, ttl=self.lease_seconds)
                else:
                    lease = await queue.acquire_queued(
                        name, run_id, ttl=self.lease_seconds, ticket=ticket
                    )
                if lease is not None:
                    return lease
                if policy == "reject":
                    holder = await self.leases.current(name)
                    raise SessionBusy(key.session_id, holder.holder if holder is not None else None)
                if policy == "interrupt" and not asked:
                    asked = await self.leases.interrupt(name, INTERRUPT_REASON)
                if queue is not None and ticket is None:
                    ticket = await queue.enqueue(name, run_id, ttl=self.lease_seconds)
                    continue  # perhaps first in line already
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, self.poll_max)
        except BaseException:
            if ticket is not None:
                await self._dequeue(name, ticket)
            raise

    # ---- the waiters' queue, when the lease store has one (ports/leases.py LeaseQueue) ----

    async def _enqueue(self, key: SessionKey, run_id: str) -> int | None:
        """A ticket for a run that waits behind another run of this process (None without a
        queue): taken now, so that it keeps its place against other replicas' runs."""
        if self._queue is None:
            return None
        return await self._queue.enqueue(lease_name(key), run_id, ttl=self.lease_seconds)

    def _touching(self, key: SessionKey, ticket: int | None) -> asyncio.Task[None] | None:
        """Keep a ticket in the queue while its run waits for this process's lock."""
        queue = self._queue
        if ticket is None or queue is None:
            return None
        name = lease_name(key)

        async def touch() -> None:
            while True:
                await asyncio.sleep(self.renew_seconds)
                try:
                    await queue.touch(name, ticket, ttl=self.lease_seconds)
                except Exception as exc:  # a store hiccup: the ticket lasts a few more
                    log.warning("could not keep the place of a waiting run: %s", exc)

        return asyncio.get_running_loop().create_task(touch(), name=f"agenthost ticket {ticket}")

    async def _dequeue(self, name: str, ticket: int) -> None:
        if self._queue is None:
            return
        try:
            await self._queue.dequeue(name, ticket)
        except Exception as exc:  # it runs out anyway
            log.warning("could not leave the queue of %s: %s", name, exc)

    async def _renew(self, lease: Lease, interrupt: Callable[[str], None]) -> None:
        assert self.leases is not None
        asked = False
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                renewed = await self.leases.renew(lease)
            except Exception as exc:  # a store hiccup: the lease lasts a few more renewals
                log.warning("could not renew the lease of run %s: %s", lease.holder, exc)
                continue
            if renewed is None:
                log.warning("run %s lost its session lease: interrupting it", lease.holder)
                interrupt(lease.holder)
                return
            if renewed.interrupt is not None and not asked:
                asked = True  # interrupted once; the lease is kept until the run has ended
                interrupt(lease.holder)

    async def _release(self, lease: Lease) -> None:
        assert self.leases is not None
        try:
            await self.leases.release(lease)
        except Exception as exc:  # it runs out anyway
            log.warning("could not release the lease of run %s: %s", lease.holder, exc)

    @asynccontextmanager
    async def try_hold(self, key: SessionKey, holder: str) -> AsyncIterator[bool]:
        """Hold the session's lease for a short check if it is free (True), else False at
        once; without a lease store, True when no run of this process holds it."""
        if self.leases is None:
            yield not self.is_locked(key)
            return
        if self.is_locked(key):
            yield False
            return
        lease = await self.leases.acquire(lease_name(key), holder, ttl=self.lease_seconds)
        if lease is None:
            yield False
            return
        try:
            yield True
        finally:
            await self._release(lease)


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
