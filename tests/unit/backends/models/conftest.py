from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agenthost.backends.models import _wire
from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.backends.models.providers import Provider
from agenthost.testing.fake_openai import FakeOpenAIServer


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture(params=["lean", "aiohttp"])
def provider(server: FakeOpenAIServer, request: pytest.FixtureRequest) -> Provider:
    """The fake server's provider, over each HTTP transport (see test_transports.py)."""
    return Provider("fake", base_url=server.base_url, api_key="sk-test", transport=request.param)


@pytest.fixture
async def model(provider: Provider) -> AsyncIterator[OpenAICompatibleModel]:
    async with OpenAICompatibleModel("fake-model", provider=provider) as m:
        yield m


@pytest.fixture(autouse=True)
def fresh_wire_cache() -> None:
    _wire.clear_cache()
