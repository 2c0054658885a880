"""The cron input: a cron expression (with a time zone) that sends a configured prompt.

    CronInput(name="daily", schedule="0 9 * * 1-5", timezone="Europe/Paris",
              prompt="Summarize yesterday's news.", conversation="daily")

`schedule` is a cron expression of 5 fields (minute hour day month weekday), or 6 with
seconds LAST (croniter's convention: `*/10 * * * * *` is every 10 seconds); `@hourly`,
`@daily` etc. work too. Each tick submits `prompt` to `conversation` (default: the input's
name) with the id `<name>@<tick time ISO>`, so a tick is never run twice, also across a
restart. Ticks missed while the process was down are not caught up.

Needs croniter: `pip install 'agenthost[channels]'`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agenthost.channels.base import InputClient, Sink
from agenthost.core.errors import ConfigError, MissingExtraError
from agenthost.ports.channels import InboundMessage

log = logging.getLogger("agenthost.channels.cron")


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ModuleNotFoundError as exc:
        raise MissingExtraError("The cron input", "channels", "croniter") from exc
    return croniter


class CronInput(InputClient):
    """Sends `prompt` on every tick of `schedule` in `timezone` (see the module doc)."""

    platform: ClassVar[str] = "cron"

    def __init__(
        self,
        *,
        schedule: str,
        prompt: str,
        name: str | None = None,
        timezone: str = "UTC",
        conversation: str | None = None,
        sender: str = "cron",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name=name)
        croniter = _croniter()
        if not croniter.is_valid(schedule):
            raise ConfigError(
                f"Cron input {self.name!r}: schedule {schedule!r} is not a cron expression; "
                f"write 5 fields (minute hour day month weekday), e.g. '0 9 * * 1-5', or 6 "
                f"with seconds last."
            )
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"Cron input {self.name!r}: unknown time zone {timezone!r}; write an IANA "
                f"name such as 'Europe/Paris' or 'UTC'."
            ) from exc
        if not prompt.strip():
            raise ConfigError(f"Cron input {self.name!r}: prompt is empty.")
        self.schedule = schedule
        self.timezone = timezone
        self.prompt = prompt
        self.conversation = conversation or self.name
        self.sender = sender
        self._clock = clock
        self.ticks = 0

    def describe(self) -> str:
        return f"{self.schedule} ({self.timezone})"

    def next_tick(self, after: float) -> datetime:
        """The first tick strictly after `after` (unix seconds), in the input's zone."""
        start = datetime.fromtimestamp(after, self.zone)
        tick: datetime = _croniter()(self.schedule, start).get_next(datetime)
        return tick

    async def run(self, sink: Sink) -> None:
        tick = self.next_tick(self._clock())
        while True:
            await asyncio.sleep(max(tick.timestamp() - self._clock(), 0.0))
            if self._clock() < tick.timestamp():
                continue  # woke early (a coarse clock): sleep the rest
            message = InboundMessage(
                id=f"{self.name}@{tick.isoformat()}",
                conversation=self.conversation,
                text=self.prompt,
                sender=self.sender,
                meta={"tick": tick.isoformat()},
            )
            result = await sink.submit(message)
            self.ticks += 1
            log.info("cron %s tick %s: %s", self.name, tick.isoformat(), result)
            tick = self.next_tick(max(tick.timestamp(), self._clock() - 1))
