"""Web tools: `web_fetch` (a URL to readable text, SSRF-protected) and `web_search`.

In agenthost.yaml, `tools: ["web:fetch", "web:search"]` (or `"web:*"`) gives an llm agent
the bundled tools, set up from the environment when called:

- AGENTHOST_WEB_ALLOWED_HOSTS: comma-separated hosts, IPs or CIDRs web_fetch may reach even
  though they are private (e.g. "127.0.0.1,intranet.local,10.1.0.0/16"); default none.
- AGENTHOST_WEB_ALLOW_PRIVATE=1: every address allowed (trusted networks only).
- SEARXNG_URL (a SearXNG instance) or TAVILY_API_KEY: web_search's provider.

In code, `make_fetch_tool(Fetcher(WebPolicy(...), FetchLimits(...)))` and
`make_search_tool(SearxngSearch(...))` build them with explicit settings.
"""

from __future__ import annotations

import os

from agenthost.backends.tools.web.fetcher import Fetcher, FetchError, FetchLimits
from agenthost.backends.tools.web.providers import (
    SearchError,
    SearchProvider,
    SearchResult,
    SearxngSearch,
    TavilySearch,
)
from agenthost.backends.tools.web.ssrf import WebPolicy
from agenthost.core.errors import ConfigError, ToolError
from agenthost.engine.function_tool import FunctionTool

__all__ = [
    "TOOLS",
    "FetchLimits",
    "Fetcher",
    "SearchProvider",
    "SearchResult",
    "SearxngSearch",
    "TavilySearch",
    "WebPolicy",
    "fetch",
    "fetcher_from_env",
    "make_fetch_tool",
    "make_search_tool",
    "policy_from_env",
    "provider_from_env",
    "search",
]

_TRUE = ("1", "true", "yes", "on")


def fetcher_from_env() -> Fetcher:
    """A Fetcher with the policy of AGENTHOST_WEB_ALLOWED_HOSTS / AGENTHOST_WEB_ALLOW_PRIVATE."""
    return Fetcher(policy_from_env())


def policy_from_env() -> WebPolicy:
    """The policy of AGENTHOST_WEB_ALLOWED_HOSTS / AGENTHOST_WEB_ALLOW_PRIVATE (also the
    browser tools')."""
    hosts = os.environ.get("AGENTHOST_WEB_ALLOWED_HOSTS", "")
    allow_private = os.environ.get("AGENTHOST_WEB_ALLOW_PRIVATE", "").lower() in _TRUE
    allowed = [h.strip() for h in hosts.split(",") if h.strip()]
    try:
        return WebPolicy(allow_private=allow_private, allowed_hosts=allowed)
    except ConfigError as exc:
        raise ConfigError(f"AGENTHOST_WEB_ALLOWED_HOSTS: {exc.message}") from exc


def provider_from_env() -> SearchProvider:
    """SearXNG when SEARXNG_URL is set, else Tavily when TAVILY_API_KEY is set."""
    if url := os.environ.get("SEARXNG_URL"):
        return SearxngSearch(url)
    if key := os.environ.get("TAVILY_API_KEY"):
        return TavilySearch(key)
    raise ConfigError(
        "web_search has no provider: set SEARXNG_URL to a SearXNG instance (with the json "
        "format enabled) or TAVILY_API_KEY to a Tavily API key."
    )


def make_fetch_tool(fetcher: Fetcher | None = None) -> FunctionTool:
    """The web_fetch tool; with no fetcher, one from the environment at each call."""

    async def web_fetch(url: str) -> str:
        """Fetch a web page (http or https) and return its readable text.

        Args:
            url: The full URL, e.g. https://example.com/article.
        """
        try:
            return await (fetcher or fetcher_from_env()).fetch_text(url)
        except FetchError as exc:
            raise ToolError(str(exc), tool_name="web_fetch") from None

    return FunctionTool(web_fetch)


def make_search_tool(provider: SearchProvider | None = None) -> FunctionTool:
    """The web_search tool; with no provider, one from the environment at each call."""

    async def web_search(query: str, max_results: int = 5) -> str:
        """Search the web; returns titles, URLs and snippets (fetch a URL with web_fetch).

        Args:
            query: What to search for.
            max_results: How many results (1 to 10).
        """
        count = min(max(max_results, 1), 10)
        try:
            results = await (provider or provider_from_env()).search(query, count)
        except SearchError as exc:
            raise ToolError(str(exc), tool_name="web_search") from None
        return format_results(query, results)

    return FunctionTool(web_search)


def format_results(query: str, results: list[SearchResult]) -> str:
    if not results:
        return f"No results for {query!r}."
    lines = [
        f"{i}. {r.title}\n   {r.url}\n   {r.snippet}".rstrip() for i, r in enumerate(results, 1)
    ]
    return "\n".join(lines)


fetch = make_fetch_tool()
search = make_search_tool()
TOOLS = (fetch, search)
