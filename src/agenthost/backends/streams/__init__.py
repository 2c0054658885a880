"""Run streams by URL (ports/streams.py): `redis://host:6379/0?key_prefix=agenthost:`.

    from agenthost.backends.streams import open_run_streams
    async with open_run_streams("redis://127.0.0.1:6379/0") as streams: ...

Redis Streams is the one backend (extra `redis`); the module is imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agenthost.core.errors import ConfigError, MissingExtraError, redact_url

if TYPE_CHECKING:
    from agenthost.backends.streams.redis import RedisRunStreams

__all__ = ["open_run_streams"]


def open_run_streams(url: str, **options: Any) -> RedisRunStreams:
    """The run streams at `url` (not yet open: `async with`)."""
    scheme = url.partition("://")[0].lower()
    if scheme not in ("redis", "rediss"):
        raise ConfigError(
            f"Run event streams at {redact_url(url)!r}: only redis:// (or rediss://) URLs are "
            f"supported (Redis Streams). Set cluster.events (AGENTHOST_EVENTS_URL) to a Redis URL."
        )
    try:
        from agenthost.backends.streams.redis import RedisRunStreams
    except ModuleNotFoundError as exc:
        raise MissingExtraError("Run event streams", "redis", exc.name or "redis") from exc
    return RedisRunStreams.from_url(url, **options)
