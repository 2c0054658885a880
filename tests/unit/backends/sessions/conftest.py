from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.sessions.sqlite import SQLiteSessionStore

from .sqlite_helpers import Open


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
async def open_store(db_path: Path) -> AsyncIterator[Open]:
    """Open SQLite stores on `db_path` (each its own connection); all closed at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(**options: Any) -> SQLiteSessionStore:
            store = SQLiteSessionStore(db_path, **options)
            return await stack.enter_async_context(store)

        yield make
