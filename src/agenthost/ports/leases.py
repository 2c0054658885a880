"""The lease port: "this session is run by at most one holder at a time", across processes.

A lease has a `name` (here: one per session), a `holder` (who has it: one run), a fencing
`token` and a time to live. Every successful `acquire` of a name gets a token greater than
any token that name had before, so a late write by a holder whose lease ran out can be told
from the current holder's (the token is what `renew`, `release` and `interrupt` compare).

- `acquire(name, holder, ttl)`: the lease if the name is free (never held, released, or
  expired), else None. Never waits: the caller polls (engine/locks.py).
- `renew(lease, ttl)`: extend it. Returns the lease (with `interrupt` set when another
  process asked for the session, see below) while it is still ours, None once it is lost
  (expired and taken by another, or released).
- `release(lease)`: free the name, only if the token is still ours.
- `current(name)`: the live lease of a name, or None.
- `interrupt(name, reason)`: ask the current holder to give the session up (the `interrupt`
  busy policy on another replica); the holder learns it from its next `renew`.

Time is the backend's own (Redis' clock, the database's clock), never the caller's, so the
replicas' clocks need not agree. Implementations: `MemoryLeases` (one process: tests and the
memory store), Redis, Postgres and MySQL (the stores' `leases()`); SQLite and memory stores
run in one process and use the process-local locks instead (engine/locks.py).
One contract suite (tests/contract/test_leases.py) runs against every backend.

**Fenced appends.** A session store whose `leases()` it can check in the same transaction as
a write sets `fences_appends = True` and takes `append(session, events, fence=lease)`: the
events are stored only if no newer token than `lease.token` was handed out for `lease.name`,
else nothing is written and it raises `LeaseLost` (code `lease_lost`). So a write already in
flight when its run lost the session (a long GC pause, a network partition) cannot land after
the new holder's. The Runner passes the fence when its leases are the store's own
(`leases: auto`); the memory and SQLite stores have no leases and no fence (nothing to pay).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import msgspec


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    """A held lease. `interrupt` is the reason another process asked for the name, if any."""

    name: str
    holder: str
    token: int
    ttl: float
    interrupt: str | None = None


def fences_appends(store: object) -> bool:
    """Whether a session store checks a lease's fencing token on `append` (see above)."""
    return getattr(store, "fences_appends", False) is True


@runtime_checkable
class LeaseStore(Protocol):
    async def acquire(self, name: str, holder: str, *, ttl: float) -> Lease | None: ...

    async def renew(self, lease: Lease, *, ttl: float | None = None) -> Lease | None: ...

    async def release(self, lease: Lease) -> bool: ...

    async def current(self, name: str) -> Lease | None: ...

    async def interrupt(self, name: str, reason: str) -> bool: ...


@runtime_checkable
class LeaseQueue(Protocol):
    """Optional, for a lease store whose waiters take their turn in arrival order across
    processes (Postgres, MySQL/MariaDB, Redis; engine/locks.py uses it when the store has it):

    - `enqueue(name, holder, ttl)`: a ticket in the name's queue (tickets only grow); it stays
      in the queue for `ttl` unless `touch`ed, so a waiter that died stops holding it up.
    - `acquire_queued(name, holder, ttl, ticket)`: the lease if it is free and no live waiter
      is ahead: with `ticket=None` no live waiter at all (a newcomer does not jump the
      queue), with a ticket none with a smaller one; the ticket leaves the queue on success.
    - `touch(name, ticket, ttl)`: keep a waiting ticket in the queue.
    - `dequeue(name, ticket)`: leave the queue (the waiter gave up).
    """

    async def enqueue(self, name: str, holder: str, *, ttl: float) -> int: ...

    async def acquire_queued(
        self, name: str, holder: str, *, ttl: float, ticket: int | None
    ) -> Lease | None: ...

    async def touch(self, name: str, ticket: int, *, ttl: float) -> None: ...

    async def dequeue(self, name: str, ticket: int) -> None: ...
