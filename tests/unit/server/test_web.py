"""The web chat page's router: `/` and its static files, served without a key, cacheable by
ETag, with a strict CSP; the banner shows the page. (The page itself is tested in a real
browser: tests/integration/test_web_page.py.)"""

from __future__ import annotations

from agenthost.engine.runner import Runner
from agenthost.server import create_app, startup_banner

from .conftest import Users, started


async def test_the_page_and_its_files_need_no_key(users: Users) -> None:
    page = await users.anonymous.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="web/app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"

    script = await users.anonymous.get("/web/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "Last-Event-ID" in script.text
    style = await users.anonymous.get("/web/style.css")
    assert style.headers["content-type"] == "text/css; charset=utf-8"

    # the API behind it still needs a key
    assert (await users.anonymous.get("/v1/apps")).status_code == 401


async def test_files_are_revalidated_by_etag(users: Users) -> None:
    first = await users.anonymous.get("/web/app.js")
    assert first.headers["cache-control"] == "no-cache"
    etag = first.headers["etag"]
    again = await users.anonymous.get("/web/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    page = await users.anonymous.get("/", headers={"If-None-Match": etag})
    assert page.status_code == 200  # another file, another tag


async def test_only_the_page_files_are_served(users: Users) -> None:
    for path in ("/web/..%2F__init__.py", "/web/index.html", "/web/nope.js"):
        r = await users.anonymous.get(path)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "not_found"
    assert "app.js, style.css" in r.json()["error"]["message"]


async def test_the_banner_shows_the_page(runners: dict[str, Runner]) -> None:
    app = create_app(runners, api_keys=[])
    assert app.state.agenthost.page_path == "/"
    banner = startup_banner(host="0.0.0.0", port=8000, agents=["helper"], auth=False, page_path="/")
    assert "  page:     http://127.0.0.1:8000/\n" in banner

    without = create_app(runners, api_keys=[], routers=["ops", "native"])
    assert without.state.agenthost.page_path is None
    async with started(without) as client:
        assert (await client.get("/")).status_code == 404
