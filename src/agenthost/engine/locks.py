"""Per-session serialization with a busy policy (what to do with a second message).

- `queue` (default): wait for the active run to finish, then run (FIFO).
- `reject`: raise `SessionBusy` at once; nothing is stored.
- `interrupt`: cancel the active run (it ends with `run.failed`, code `interrupted`), then run.

The lock lives in this process (one runner). Replicas sharing a database need a lease lock in
Redis or Postgres; that backend plugs in behind the same `SessionLocks` interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

from agenthost.core.errors import SessionBusy
from agenthost.core.session import SessionKey

BusyPolicy = Literal["queue", "reject", "interrupt"]
BUSY_POLICIES: tuple[BusyPolicy, ...] = ("queue", "reject", "interrupt")


class _Slot:
    __slots__ = ("lock", "run_id", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.run_id: str | None = None


class SessionLocks:
    def __init__(self) -> None:
        self._slots: dict[SessionKey, _Slot] = {}

    def active_run(self, key: SessionKey) -> str | None:
        slot = self._slots.get(key)
        return slot.run_id if slot is not None else None

    def is_locked(self, key: SessionKey) -> bool:
        slot = self._slots.get(key)
        return slot is not None and slot.lock.locked()

    @asynccontextmanager
    async def hold(
        self,
        key: SessionKey,
        *,
        policy: BusyPolicy,
        run_id: str,
        interrupt: Callable[[str], None],
    ) -> AsyncIterator[None]:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        if slot.lock.locked():
            if policy == "reject":
                raise SessionBusy(key.session_id, slot.run_id)
            if policy == "interrupt" and slot.run_id is not None:
                interrupt(slot.run_id)
        slot.users += 1
        try:
            async with slot.lock:
                slot.run_id = run_id
                try:
                    yield
                finally:
                    slot.run_id = None
        finally:
            slot.users -= 1
            if slot.users == 0:
                self._slots.pop(key, None)
