"""Delivering the outbox: one loop per output client.

Each round takes, for every target conversation of the output, its oldest pending reply part
when it is due (`ChannelStore.due`), and sends those concurrently (at most
`limits.concurrency`). A part that fails is retried with exponential backoff and jitter
(`DeliveryRetry`); while it waits, the later parts of the same conversation wait too, so replies
arrive in order. A part is given up (`failed`, logged) after `max_attempts`, or at once when
the output says retrying cannot help. The status row is written after each attempt, so a crash
between a send and its record sends that part again, with the same idempotency key.

The loop sleeps until the next retry is due or the runtime queues a new reply (`wake`). When
the runtime stops it `flush`es: it delivers what is due now and returns, leaving parts that
wait for a retry in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from dataclasses import dataclass

from agenthost.channels.base import ClientStatus, OutputClient
from agenthost.core.errors import DeliveryFailed
from agenthost.ports.channels import ChannelStore, Delivery

log = logging.getLogger("agenthost.channels")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRetry:
    """Delivery retries: the n-th retry waits `base * factor**(n-1)` seconds (at most
    `max_delay`, at least the platform's Retry-After), with +/- `jitter` of it at random;
    after `max_attempts` attempts the part is given up."""

    max_attempts: int = 8
    base: float = 0.5
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.2

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        wait = min(self.max_delay, self.base * self.factor ** max(attempts - 1, 0))
        wait *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(wait, retry_after or 0.0, 0.0)


class OutputLoop:
    """Delivers the outbox rows of one output (see the module doc)."""

    def __init__(
        self,
        output: OutputClient,
        store: ChannelStore,
        status: ClientStatus,
        retry: DeliveryRetry,
        restart_delay: float,
    ) -> None:
        self.output = output
        self.store = store
        self.status = status
        self.retry = retry
        self.restart_delay = restart_delay
        self.wake = asyncio.Event()
        self.flushing = False
        self.started = False
        self._limit = asyncio.Semaphore(max(1, output.limits.concurrency))

    async def _start(self) -> bool:
        try:
            await self.output.start()
        except Exception as exc:
            self.status.state = "restarting"
            self.status.restarts += 1
            self.status.last_error = f"start failed: {exc}"
            log.warning("output %s failed to start: %s", self.output.name, exc)
            return False
        self.started = True
        self.status.state = "running"
        return True

    async def run(self) -> None:
        """Deliver until cancelled, or until flushed (`flush` set and nothing due)."""
        name = self.output.name
        while not self.started:
            if await self._start():
                break
            if self.flushing:
                return
            await self._sleep(self.restart_delay)
        while True:
            self.wake.clear()
            rows = await self.store.due(name, now=time.time())
            if rows:
                async with asyncio.TaskGroup() as tg:
                    for row in rows:
                        tg.create_task(self._deliver(row))
                continue
            if self.flushing:
                return
            heads = await self.store.due(name, now=math.inf)
            wait = min((r.next_at for r in heads), default=None)
            await self._sleep(None if wait is None else max(wait - time.time(), 0.0))

    async def _sleep(self, seconds: float | None) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self.wake.wait()
        except TimeoutError:
            pass

    async def _deliver(self, row: Delivery) -> None:
        attempts = row.attempts + 1
        async with self._limit:
            try:
                await self.output.send(row)
            except DeliveryFailed as exc:
                await self._failed(row, attempts, exc.message, exc.retryable, exc.retry_after)
                return
            except Exception as exc:  # a bug in the client: log it, retry like a failure
                log.exception("output %s raised while sending %s", self.output.name, row.key)
                await self._failed(row, attempts, f"{type(exc).__name__}: {exc}", True, None)
                return
        await self.store.update(row.id, status="delivered", attempts=attempts)
        self.status.delivered += 1

    async def _failed(
        self,
        row: Delivery,
        attempts: int,
        error: str,
        retryable: bool,
        retry_after: float | None,
    ) -> None:
        name = self.output.name
        if not retryable or attempts >= self.retry.max_attempts:
            await self.store.update(row.id, status="failed", attempts=attempts, error=error)
            self.status.failed += 1
            log.error(
                "output %s gave up delivering %s to %s after %d attempt(s): %s",
                name,
                row.key,
                row.item.target,
                attempts,
                error,
            )
            return
        delay = self.retry.delay(attempts, retry_after)
        await self.store.update(
            row.id, status="pending", attempts=attempts, next_at=time.time() + delay, error=error
        )
        self.status.retried += 1
        log.info(
            "output %s: delivery %s failed (%s); retry %d in %.2fs",
            name,
            row.key,
            error,
            attempts,
            delay,
        )
