"""Web tools against real HTTP servers on 127.0.0.1: SSRF refusals (by default, after a
redirect, through DNS), limits, HTML to text, the search providers' wire formats, and a run."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agenthost.backends.tools.web import (
    Fetcher,
    FetchLimits,
    SearxngSearch,
    TavilySearch,
    WebPolicy,
    make_fetch_tool,
    make_search_tool,
)
from agenthost.backends.tools.web.fetcher import FetchError
from agenthost.backends.tools.web.html_text import html_to_text
from agenthost.backends.tools.web.ssrf import BlockedAddress, checked_addresses, is_public
from agenthost.core.errors import ConfigError, ToolError
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer
from agenthost.testing.scripted import ScriptedModel, tool_call

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "web"

PAGE = """<html><head><title>Fjords of Norway</title><style>p {color: red}</style>
<script>alert("x")</script></head><body><nav><a href="/home">Home</a></nav>
<h1>Fjords</h1><p>Long, narrow <b>inlets</b> made by glaciers.</p>
<ul><li>Geiranger</li><li>Sogne</li></ul><p>See <a href="https://example.org/f">more</a>.</p>
</body></html>"""

LOCAL = WebPolicy(allowed_hosts=["127.0.0.1"])


class Site:
    """A local web server whose routes the tests fill; `release` frees the hanging route."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.release = asyncio.Event()
        self.hanging = asyncio.Event()
        self.requests: list[web.Request] = []
        self.server: TestServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    s = Site()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def big(_: web.Request) -> web.Response:
        return web.Response(text="a" * 100_000, content_type="text/plain")

    async def odd_charset(_: web.Request) -> web.Response:
        return web.Response(
            body="café".encode(), headers={"Content-Type": "text/plain; charset=x-unknown"}
        )

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG", content_type="image/png")

    async def hang(_: web.Request) -> web.Response:
        s.hanging.set()
        await s.release.wait()
        return web.Response(text="late")

    for path, handler in [("/page", page), ("/go", redirect), ("/big", big)]:
        s.app.router.add_get(path, handler)
    s.app.router.add_get("/image", image)
    s.app.router.add_get("/odd", odd_charset)
    s.app.router.add_get("/hang", hang)
    s.server = TestServer(s.app, host="127.0.0.1")
    await s.server.start_server()
    yield s
    s.release.set()
    await s.server.close()


async def refused(fetcher: Fetcher, url: str) -> str:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch_text(url)
    return str(info.value)


# ---- SSRF ----------------------------------------------------------------------------------


async def test_loopback_is_refused_by_default(site: Site) -> None:
    message = await refused(Fetcher(), site.url("/page"))
    assert "refused" in message and "127.0.0.1" in message


async def test_an_allowed_host_is_fetched_as_readable_text(site: Site) -> None:
    text = await Fetcher(LOCAL).fetch_text(site.url("/page"))
    assert text.splitlines()[0] == "Title: Fjords of Norway"
    assert "# Fjords" in text
    assert "Long, narrow inlets made by glaciers." in text
    assert "- Geiranger" in text and "more (https://example.org/f)" in text
    assert "alert" not in text and "color" not in text and "Home" not in text


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://localhost/"]
)
async def test_a_redirect_to_an_internal_address_is_refused(site: Site, target: str) -> None:
    message = await refused(Fetcher(LOCAL), site.url(f"/go?to={target}"))
    assert "refused" in message


async def test_a_redirect_to_an_allowed_page_is_followed(site: Site) -> None:
    text = await Fetcher(LOCAL).fetch_text(site.url(f"/go?to={site.url('/page')}"))
    assert "Long, narrow inlets" in text


async def test_too_many_redirects_stop(site: Site) -> None:
    url = site.url("/page")
    for _ in range(3):
        url = site.url(f"/go?to={url}")
    limits = FetchLimits(max_redirects=2)
    assert "more than 2 redirects" in await refused(Fetcher(LOCAL, limits), url)


async def test_a_name_resolving_to_a_private_address_is_refused(site: Site) -> None:
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34", "10.0.0.7"]  # one private address is enough to refuse

    fetcher = Fetcher(WebPolicy(), resolve=resolve)
    message = await refused(fetcher, "http://rebind.example/")
    assert asked == ["rebind.example"] and "10.0.0.7" in message


async def test_a_name_is_connected_to_the_checked_address_only(site: Site) -> None:
    assert site.server is not None
    port = site.server.port

    asked: list[str] = []

    async def resolve(host: str, _: int) -> list[str]:  # a rebinding DNS: private next time
        asked.append(host)
        return ["127.0.0.1"] if len(asked) == 1 else ["10.9.9.9"]

    fetcher = Fetcher(LOCAL, resolve=resolve)
    text = await fetcher.fetch_text(f"http://docs.example:{port}/page")
    # resolved once, by the check; aiohttp connected to that answer (the system DNS does not
    # know docs.example)
    assert "Long, narrow inlets" in text and asked == ["docs.example"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("0.0.0.0", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("192.168.1.1", False),
        ("::1", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("::ffff:8.8.8.8", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    import ipaddress

    assert is_public(ipaddress.ip_address(address)) is public


async def test_allowed_networks_and_names() -> None:
    policy = WebPolicy(allowed_hosts=["10.1.0.0/16", "intranet.local"])
    assert await checked_addresses("10.1.2.3", 80, policy) == ["10.1.2.3"]
    with pytest.raises(BlockedAddress):
        await checked_addresses("10.2.0.1", 80, policy)

    async def resolve(host: str, _: int) -> list[str]:
        return ["192.168.0.5"]

    assert await checked_addresses("intranet.local", 80, policy, resolve) == ["192.168.0.5"]
    with pytest.raises(ConfigError, match=r"allowed_hosts\[0\]"):
        WebPolicy(allowed_hosts=["10.0.0.0/33"])


async def test_only_http_and_https() -> None:
    assert "only http and https" in await refused(Fetcher(), "file:///etc/passwd")


# ---- limits --------------------------------------------------------------------------------


async def test_the_body_is_cut_at_max_bytes(site: Site) -> None:
    text = await Fetcher(LOCAL, FetchLimits(max_bytes=1000)).fetch_text(site.url("/big"))
    body, _, note = text.partition("\n\n")
    assert body == "a" * 1000 and "truncated" in note


async def test_a_hanging_server_times_out(site: Site) -> None:
    fetcher = Fetcher(LOCAL, FetchLimits(timeout=0.2))
    message = await refused(fetcher, site.url("/hang"))
    assert site.hanging.is_set() and "took longer than 0.2s" in message


async def test_binary_content_is_refused(site: Site) -> None:
    assert "'image/png'" in await refused(Fetcher(LOCAL), site.url("/image"))


async def test_an_unknown_charset_is_read_as_utf8(site: Site) -> None:
    assert await Fetcher(LOCAL).fetch_text(site.url("/odd")) == "café"


def test_html_to_text_keeps_structure() -> None:
    text = html_to_text("<h2>A &amp; B</h2><p>one<br>two</p><noscript>x</noscript>")
    assert text == "## A & B\n\none\n\ntwo"


# ---- search --------------------------------------------------------------------------------

SEARXNG_ANSWER = {
    "query": "fjords",
    "number_of_results": 0,
    "results": [
        {
            "url": "https://en.wikipedia.org/wiki/Fjord",
            "title": "Fjord - Wikipedia",
            "content": "A fjord is a long, narrow sea inlet.",
            "engine": "wikipedia",
            "parsed_url": ["https", "en.wikipedia.org", "/wiki/Fjord", "", "", ""],
            "engines": ["wikipedia"],
            "positions": [1],
            "score": 1.0,
            "category": "general",
        },
        {"url": "https://visitnorway.com/fjords", "title": "Fjords", "content": "", "score": 0.5},
    ],
    "answers": [],
    "corrections": [],
    "infoboxes": [],
    "suggestions": [],
    "unresponsive_engines": [],
}


async def serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_searxng_json_api() -> None:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        return web.json_response(SEARXNG_ANSWER)

    app = web.Application()
    app.router.add_get("/search", handler)
    server = await serve(app)
    try:
        base = str(server.make_url(""))
        results = await SearxngSearch(base).search("fjords", 1)
        text = await make_search_tool(SearxngSearch(base)).call({"query": "fjords"})
    finally:
        await server.close()
    assert seen[0] == {"q": "fjords", "format": "json"}
    snippet = "A fjord is a long, narrow sea inlet."
    assert [(r.title, r.url, r.snippet) for r in results] == [
        ("Fjord - Wikipedia", "https://en.wikipedia.org/wiki/Fjord", snippet)
    ]
    assert text.startswith("1. Fjord - Wikipedia\n   https://en.wikipedia.org/wiki/Fjord")
    assert "2. Fjords\n   https://visitnorway.com/fjords" in text


async def test_tavily_api_and_errors() -> None:
    seen: list[tuple[str | None, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer tvly-test":
            return web.json_response({"detail": {"error": "Unauthorized"}}, status=401)
        seen.append((request.headers.get("Authorization"), await request.json()))
        return web.json_response(
            {
                "query": "fjords",
                "answer": None,
                "images": [],
                "results": [
                    {
                        "title": "Fjord",
                        "url": "https://a.example/f",
                        "content": "Inlet.",
                        "score": 0.9,
                    }
                ],
                "response_time": 1.2,
            }
        )

    app = web.Application()
    app.router.add_post("/search", handler)
    server = await serve(app)
    try:
        base = str(server.make_url(""))
        results = await TavilySearch("tvly-test", base_url=base).search("fjords", 3)
        tool = make_search_tool(TavilySearch("tvly-wrong", base_url=base))
        with pytest.raises(ToolError, match="HTTP 401"):
            await tool.call({"query": "fjords"})
    finally:
        await server.close()
    assert seen == [("Bearer tvly-test", {"query": "fjords", "max_results": 3})]
    assert [(r.title, r.snippet) for r in results] == [("Fjord", "Inlet.")]


async def test_searxng_without_the_json_format_says_how_to_enable_it() -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=403, text="Forbidden")

    app = web.Application()
    app.router.add_get("/search", handler)
    server = await serve(app)
    try:
        tool = make_search_tool(SearxngSearch(str(server.make_url(""))))
        with pytest.raises(ToolError, match=r"add 'json' to search\.formats"):
            await tool.call({"query": "fjords"})
    finally:
        await server.close()


async def test_the_bundled_search_tool_names_the_settings_it_lacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SEARXNG_URL", raising=False)
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"set SEARXNG_URL .* or TAVILY_API_KEY"):
        await make_search_tool().call({"query": "fjords"})


# ---- through the host ----------------------------------------------------------------------


async def test_an_agent_run_calls_web_fetch(site: Site, store: SessionStore) -> None:
    url = site.url("/page")
    model = ScriptedModel(
        [tool_call("web_fetch", f'{{"url": "{url}"}}'), "Fjords are glacial inlets."],
        name="test:web",
    )
    agent = LLMAgent(model=model, name="reader", tools=[make_fetch_tool(Fetcher(LOCAL))])
    events = await collect(Runner(agent, store=store, app="t").run("u", "s", "read it"))
    result = next(e for e in events if e.type == "tool.call.completed")
    assert result.error is None and "Long, narrow inlets made by glaciers." in result.text
    assert "Long, narrow inlets" in str(model.calls[1][-1].parts[0])  # the model read it
    assert final_text(events) == "Fjords are glacial inlets."


async def test_the_bundled_tool_reads_its_policy_from_the_environment(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = make_fetch_tool()
    with pytest.raises(ToolError, match="refused"):
        await tool.call({"url": site.url("/page")})
    monkeypatch.setenv("AGENTHOST_WEB_ALLOWED_HOSTS", "127.0.0.1")
    assert "Long, narrow inlets" in await tool.call({"url": site.url("/page")})


# ---- the example of docs/tools.md ----------------------------------------------------------


async def test_the_research_example_searches_through_searxng(tmp_path: Path) -> None:
    queries: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        queries.append(request.query["q"])
        return web.json_response(SEARXNG_ANSWER)

    app = web.Application()
    app.router.add_get("/search", handler)
    searxng = await serve(app)
    try:
        with FakeOpenAIServer.start_in_thread() as model:
            env = {
                **os.environ,
                "AGENTHOST_MODEL": "openai:gpt-4o-mini",
                "OPENAI_BASE_URL": model.base_url,
                "OPENAI_API_KEY": "sk-test",
                "AGENTHOST_HOME": str(tmp_path),
                "SEARXNG_URL": str(searxng.make_url("")),
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(EXAMPLES / "research.py"),
                env=env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
    finally:
        await searxng.close()
    assert process.returncode == 0, err.decode()
    text = out.decode()
    # the fake model calls the first tool, web_search, with {"query": "fake"}
    assert queries == ["fake"]
    assert "[calling web_search]" in text
    assert "[tool result: 1. Fjord - Wikipedia" in text
