from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.contract.server_stores import server_url

from agenthost.backends.knowledge import open_knowledge_store
from agenthost.backends.knowledge.store import KnowledgeStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def kstore(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KnowledgeStore]:
    """A knowledge store on each backend (Postgres: the local server, tables under a private
    prefix made at open by migrate=true and dropped at the end)."""
    if request.param == "sqlite":
        async with open_knowledge_store(f"sqlite:///{tmp_path}/kb.db") as store:
            yield store
        return
    prefix = f"t{uuid.uuid4().hex[:12]}_"
    url = f"{server_url('postgres')}?table_prefix={prefix}&migrate=true"
    try:
        async with open_knowledge_store(url) as store:
            yield store
    finally:
        pg: Any = open_knowledge_store(url)
        await pg.drop_tables()


@pytest.fixture
def owner() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"
