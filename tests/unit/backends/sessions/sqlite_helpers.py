"""What the SQLite store tests share: a key, an event, and ways to damage a database file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agenthost.backends.sessions.sqlite import SQLiteSessionStore
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey

KEY = SessionKey("app", "alice", "s1")

Open = Callable[..., Awaitable[SQLiteSessionStore]]


def event(text: str = "hi", state_delta: dict[str, Any] | None = None) -> Event:
    return Event(
        id=new_id(),
        run_id="run_1",
        author="agent",
        type="message.completed",
        message=Message.assistant(text),
        state_delta=state_delta,
    )


def texts(events: list[Event]) -> list[str]:
    return [e.message.text for e in events if e.message]


async def fill(db_path: Path) -> None:
    """A database with a session of 50 events (a few pages of them)."""
    async with SQLiteSessionStore(db_path) as store:
        session = await store.create(KEY)
        for _ in range(50):
            await store.append(session, [event("x" * 500)])


def damage(db_path: Path) -> None:
    """Overwrite most of the database's second-to-last page (events) with garbage."""
    size = db_path.stat().st_size
    with db_path.open("r+b") as file:
        file.seek(size - 2 * 4096 + 100)
        file.write(bytes(range(256)) * 12)


def not_a_database(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database at all, " * 500)
