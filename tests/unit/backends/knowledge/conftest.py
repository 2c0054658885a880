from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.contract.server_stores import server_url

from agenthost.backends.knowledge import open_knowledge_store
from agenthost.backends.knowledge.store import KnowledgeStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def kstore(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KnowledgeStore]:
    """A knowledge store on each backend (Postgres: the local server; tables shared, owners
    unique per test)."""
    url = f"sqlite:///{tmp_path}/kb.db" if request.param == "sqlite" else server_url("postgres")
    async with open_knowledge_store(url) as store:
        yield store


@pytest.fixture
def owner() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"
