"""The web chat page: `/` and its two static files, `/web/app.js` and `/web/style.css`.

The page is plain HTML, CSS and one ES module shipped in the package (no build step). It talks
to the native API with the user's API key (kept in the browser's localStorage, sent as a
Bearer token), so serving it needs no key: the page holds nothing but code. Responses carry a
strict Content-Security-Policy (only this origin's scripts, styles and API), an ETag, and
`Cache-Control: no-cache` so that an upgraded server is never shown a stale script.

Registered as the `web` router; it sets `state.page_path` so the startup banner shows the URL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header
from starlette.responses import Response

from agenthost.server.errors import RouteNotFound
from agenthost.server.state import ServerState

PAGE_PATH = "/"
ASSET_PREFIX = "/web/"

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

IfNoneMatch = Annotated[str | None, Header()]


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    media_type: str
    etag: str

    @classmethod
    def load(cls, name: str) -> _File:
        body = resources.files(__name__).joinpath(name).read_bytes()
        return cls(body, _TYPES[name], f'"{hashlib.sha256(body).hexdigest()[:32]}"')

    def response(self, if_none_match: str | None) -> Response:
        headers = {**_HEADERS, "ETag": self.etag}
        if if_none_match is not None and self.etag in if_none_match:
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def router(state: ServerState) -> APIRouter:
    """The page and its assets (read once, when the app is made)."""
    files = {name: _File.load(name) for name in _TYPES}
    api = APIRouter(include_in_schema=False)

    page_file = files.pop("index.html")

    @api.get(PAGE_PATH)
    async def page(if_none_match: IfNoneMatch = None) -> Response:
        return page_file.response(if_none_match)

    @api.get(ASSET_PREFIX + "{name}")
    async def asset(name: str, if_none_match: IfNoneMatch = None) -> Response:
        found = files.get(name)
        if found is None:
            raise RouteNotFound(
                f"No file {name!r} under {ASSET_PREFIX}; there are {', '.join(sorted(files))}."
            )
        return found.response(if_none_match)

    state.page_path = PAGE_PATH
    return api
