"""The two timeouts of a turn against a remote agent (the platform clients and the A2A agent):
`timeout` bounds the whole turn, `idle_timeout` each wait for the remote side."""

from __future__ import annotations

import asyncio


class TurnTimeouts:
    """`_deadline()` when a turn starts, `_limit(deadline)` around each await (for
    `asyncio.timeout_at`), `_timeout_detail` to say which of the two ran out."""

    timeout: float | None
    idle_timeout: float | None

    def _deadline(self) -> float:
        """The loop time the turn must be done by (infinite without a `timeout`)."""
        loop = asyncio.get_running_loop()
        return loop.time() + self.timeout if self.timeout is not None else float("inf")

    def _limit(self, deadline: float) -> float | None:
        """When the next await must be done: the idle timeout, capped by the turn's deadline."""
        now = asyncio.get_running_loop().time()
        limit = deadline if self.idle_timeout is None else min(deadline, now + self.idle_timeout)
        return None if limit == float("inf") else limit

    def _timeout_detail(self, deadline: float, what: str) -> str:
        """Which timeout ran out: the turn's, else the wait's (`what`: "sent nothing", ...)."""
        if asyncio.get_running_loop().time() >= deadline:
            return f"did not finish within {self.timeout}s (timeout)"
        return f"{what} for {self.idle_timeout}s (idle_timeout)"
