"""`fetch_text`: one URL to readable text, within the SSRF policy and the size/time limits.

Redirects are followed by hand (at most `max_redirects`), each hop checked again; every host
is resolved and checked before connecting, and aiohttp connects only to those checked
addresses (`PinnedResolver`). The body is read in chunks and reading stops at `max_bytes`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import aiohttp

from agenthost.backends.tools.web.html_text import html_to_text
from agenthost.backends.tools.web.ssrf import (
    BlockedAddress,
    PinnedResolver,
    Resolve,
    WebPolicy,
    checked_addresses,
    system_resolve,
)

TEXT_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain", "application/json"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchError(Exception):
    """The URL could not be fetched as text (refused, too slow, wrong type, HTTP error)."""


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 1_000_000  # of the body; reading stops there and the text says so
    timeout: float = 20.0  # seconds for the whole fetch, redirects included
    max_redirects: int = 5
    max_chars: int = 50_000  # of the text handed to the model
    user_agent: str = "agenthost-web-fetch/1"


@dataclass(frozen=True)
class Fetcher:
    policy: WebPolicy = field(default_factory=WebPolicy)
    limits: FetchLimits = field(default_factory=FetchLimits)
    resolve: Resolve = system_resolve

    async def fetch_text(self, url: str) -> str:
        """The page's readable text; FetchError with the reason otherwise."""
        try:
            async with asyncio.timeout(self.limits.timeout):
                return await self._fetch(url)
        except TimeoutError:
            raise FetchError(f"fetching {url} took longer than {self.limits.timeout}s") from None
        except BlockedAddress as exc:
            raise FetchError(f"refused {url}: {exc}") from None
        except aiohttp.ClientError as exc:
            raise FetchError(f"fetching {url} failed: {type(exc).__name__}: {exc}") from None

    async def _fetch(self, url: str) -> str:
        resolver = PinnedResolver()
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True)
        headers = {"User-Agent": self.limits.user_agent, "Accept": "text/html, text/plain;q=0.9"}
        async with aiohttp.ClientSession(
            connector=connector, headers=headers, trust_env=False
        ) as session:
            for _hop in range(self.limits.max_redirects + 1):
                await self._check(url, resolver)
                async with session.get(url, allow_redirects=False) as response:
                    location = response.headers.get("Location")
                    if response.status in _REDIRECTS and location:
                        url = urljoin(url, location)
                        continue
                    return await self._read(url, response)
        raise FetchError(f"more than {self.limits.max_redirects} redirects from {url}")

    async def _check(self, url: str, resolver: PinnedResolver) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"only http and https URLs can be fetched, not {url!r}")
        host = parts.hostname
        if not host:
            raise FetchError(f"{url!r} has no host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        resolver.pin(host, await checked_addresses(host, port, self.policy, self.resolve))

    async def _read(self, url: str, response: aiohttp.ClientResponse) -> str:
        if response.status >= 400:
            raise FetchError(f"{url} answered HTTP {response.status} {response.reason or ''}")
        kind = response.content_type
        if kind not in TEXT_TYPES:
            raise FetchError(
                f"{url} is {kind!r}; web_fetch reads only {', '.join(sorted(TEXT_TYPES))}"
            )
        body, truncated = await _read_limited(response, self.limits.max_bytes)
        text = _decode(body, response.charset)
        if kind in ("text/html", "application/xhtml+xml"):
            text = html_to_text(text)
        if len(text) > self.limits.max_chars:
            text, truncated = text[: self.limits.max_chars], True
        if truncated:
            text += "\n\n[truncated: the page is longer than the fetch limit]"
        return text


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


async def _read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> tuple[bytes, bool]:
    """At most max_bytes of the body, and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False
