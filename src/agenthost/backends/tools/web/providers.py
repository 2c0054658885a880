"""Web search providers: a `SearchProvider` protocol and two implementations.

- `SearxngSearch`: a SearXNG instance's JSON API, `GET {base_url}/search?q=...&format=json`
  (the instance must list `json` in `search.formats` of its settings.yml). Each item of the
  answer's `results` has `url`, `title` and `content` (the snippet).
- `TavilySearch`: `POST https://api.tavily.com/search` with `Authorization: Bearer tvly-...`
  and a JSON body `{"query", "max_results"}`; each item of `results` has `title`, `url`,
  `content`.

The provider's URL is the operator's choice (often a SearXNG on localhost), so it is not put
through the SSRF policy; the result URLs are, when the model fetches them with web_fetch.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

import aiohttp
import msgspec


class SearchResult(msgspec.Struct, frozen=True):
    title: str
    url: str
    snippet: str = ""


class SearchError(Exception):
    """The provider failed or answered something that is not a result list."""


@runtime_checkable
class SearchProvider(Protocol):
    name: str

    async def search(self, query: str, max_results: int) -> list[SearchResult]: ...


class _HTTPProvider:
    name = "http"

    def __init__(self, base_url: str, *, timeout: float = 20.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{self.name}: base_url {base_url!r} must start with http(s)://")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self.base_url + path
        try:
            async with (
                asyncio.timeout(self.timeout),
                aiohttp.ClientSession(trust_env=False) as session,
                session.request(method, url, **kwargs) as response,
            ):
                body = await response.read()
                if response.status >= 400:
                    raise SearchError(self._http_error(response.status, body))
                return msgspec.json.decode(body)
        except TimeoutError:
            raise SearchError(f"{self.name} did not answer within {self.timeout}s") from None
        except (aiohttp.ClientError, msgspec.DecodeError) as exc:
            raise SearchError(f"{self.name} at {url} failed: {exc}") from None

    def _http_error(self, status: int, body: bytes) -> str:
        return f"{self.name} answered HTTP {status}: {body[:200].decode(errors='replace')}"


def _results(data: Any, provider: str, max_results: int) -> list[SearchResult]:
    items = data.get("results") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise SearchError(f"{provider} answered without a 'results' list")
    found = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            title = str(item.get("title") or item["url"])
            found.append(SearchResult(title, item["url"], str(item.get("content") or "")))
    return found[:max_results]


class SearxngSearch(_HTTPProvider):
    """A SearXNG instance, e.g. SearxngSearch("http://localhost:8888")."""

    name = "searxng"

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        data = await self._json("GET", "/search", params={"q": query, "format": "json"})
        return _results(data, self.name, max_results)

    def _http_error(self, status: int, body: bytes) -> str:
        if status == 403:  # SearXNG's answer when the json format is not enabled
            return (
                f"searxng at {self.base_url} refused the JSON API (HTTP 403): add 'json' to "
                f"search.formats in the instance's settings.yml"
            )
        return super()._http_error(status, body)


class TavilySearch(_HTTPProvider):
    """Tavily's search API with an API key (tvly-...)."""

    name = "tavily"

    def __init__(
        self, api_key: str, *, base_url: str = "https://api.tavily.com", timeout: float = 20.0
    ) -> None:
        if not api_key:
            raise ValueError("tavily: the API key is empty; set TAVILY_API_KEY")
        super().__init__(base_url, timeout=timeout)
        self._api_key = api_key

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        data = await self._json(
            "POST",
            "/search",
            json={"query": query, "max_results": max_results},
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        return _results(data, self.name, max_results)

    def __repr__(self) -> str:  # never show the key
        return f"TavilySearch(base_url={self.base_url!r})"
