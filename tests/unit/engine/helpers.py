from __future__ import annotations

from agenthost.core.events import Event


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events if not e.partial]


def stored_ids(events: list[Event]) -> list[str]:
    return [e.id for e in events]
