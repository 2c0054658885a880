"""`MemoryLeases`: the lease port in one process (tests, the memory store, several Runners
in one process that must behave as replicas). Time is `clock` (monotonic by default)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agenthost.ports.leases import Lease


@dataclass(slots=True)
class _Row:
    holder: str
    token: int
    until: float
    interrupt: str | None = None


class MemoryLeases:
    """Leases in a dict; every method is one step (no await inside), so atomic."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rows: dict[str, _Row] = {}
        self._tokens: dict[str, int] = {}
        self._clock = clock

    def _live(self, name: str) -> _Row | None:
        row = self._rows.get(name)
        if row is not None and row.until <= self._clock():
            del self._rows[name]
            return None
        return row

    async def acquire(self, name: str, holder: str, *, ttl: float) -> Lease | None:
        if self._live(name) is not None:
            return None
        token = self._tokens.get(name, 0) + 1
        self._tokens[name] = token
        self._rows[name] = _Row(holder, token, self._clock() + ttl)
        return Lease(name=name, holder=holder, token=token, ttl=ttl)

    async def renew(self, lease: Lease, *, ttl: float | None = None) -> Lease | None:
        row = self._live(lease.name)
        if row is None or row.token != lease.token:
            return None
        seconds = lease.ttl if ttl is None else ttl
        row.until = self._clock() + seconds
        return Lease(
            name=lease.name,
            holder=lease.holder,
            token=lease.token,
            ttl=seconds,
            interrupt=row.interrupt,
        )

    async def release(self, lease: Lease) -> bool:
        row = self._live(lease.name)
        if row is None or row.token != lease.token:
            return False
        del self._rows[lease.name]
        return True

    async def current(self, name: str) -> Lease | None:
        row = self._live(name)
        if row is None:
            return None
        ttl = row.until - self._clock()
        return Lease(
            name=name, holder=row.holder, token=row.token, ttl=ttl, interrupt=row.interrupt
        )

    async def interrupt(self, name: str, reason: str) -> bool:
        row = self._live(name)
        if row is None:
            return False
        row.interrupt = reason
        return True
