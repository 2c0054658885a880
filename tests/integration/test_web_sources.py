"""The web chat page shows a reply's sources: the `knowledge.retrieved` event of an agent that
answers from a knowledge base, in a real headless Chromium (as test_web_page.py runs it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from agenthost.config import parse_config
from agenthost.server import create_app
from agenthost.testing.fake_openai import FakeOpenAIServer
from tests.integration.test_web_page import (  # the same browser, server and page helpers
    browser,
    new_page,
    send,
    serve,
)

pytestmark = pytest.mark.integration
__all__ = ["browser"]


@pytest.fixture(scope="module")
def kb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("kb")
    docs = root / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text("Bikes can be returned within 30 days of purchase.")
    (docs / "hours.md").write_text("The shop opens at nine on weekdays.")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGENTHOST_HOME", str(root / "home"))
        with FakeOpenAIServer.start_in_thread() as fake:
            config = parse_config(
                {
                    "store": "memory://",
                    "providers": {"fake": {"base_url": fake.base_url}},
                    "knowledge_bases": {"shop": {"sources": [str(docs)]}},
                    "agents": {
                        "shop": {
                            "model": "fake:m",
                            "knowledge_bases": ["shop"],
                            "retrieval_top_k": 1,
                        }
                    },
                },
                env={},
            )
            with serve(create_app(config, api_keys=[], shutdown_grace=1)) as url:
                yield url


def test_the_page_shows_the_sources_of_a_reply(browser: Browser, kb_server: str) -> None:
    with new_page(browser) as page:
        page.goto(kb_server)
        send(page, "How long can I return a bike?")
        sources = page.locator(".sources")
        expect(sources).to_have_count(1)
        expect(sources).to_contain_text("Sources: ")
        expect(sources).to_contain_text("returns.md #0")
        expect(page.locator(".msg.assistant")).to_have_attribute("aria-busy", "false")
