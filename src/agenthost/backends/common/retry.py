"""One backoff policy for the HTTP clients of models and platforms.

`Backoff.delay(attempt, retry_after)` says how long to wait before the next try, or None to
give up: exponential from `base` (0.5, 1, 2, ... capped at `max_delay`), or the server's
`Retry-After` when it sent one, as long as that is at most `max_retry_after` (a server that
asks for longer is not waited for: the caller fails, or falls back, at once). Retry only what
the user has not seen yet: callers retry before any output was streamed.
"""

from __future__ import annotations

from dataclasses import dataclass

from agenthost.core.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """`retries` more tries after the first one (0: never retry)."""

    retries: int = 2
    base: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0, got {self.retries!r}")
        for label in ("base", "max_delay", "max_retry_after"):
            value = getattr(self, label)
            if value < 0:
                raise ConfigError(f"{label} must be >= 0, got {value!r}")

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed try number `attempt` (0 = the first), or None."""
        if attempt >= self.retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return float(min(self.base * (2**attempt), self.max_delay))
