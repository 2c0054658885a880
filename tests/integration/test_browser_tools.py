"""The browser tools in Debian's headless Chromium (through Playwright) against pages served on
127.0.0.1: open, read, click, fill, screenshot; the network policy (a page's iframe and fetch
to private addresses, a redirect to loopback, names resolved only by the proxy); isolation of
sessions; the LRU and idle bounds; cancellation and timeouts; a run through the Runner.

Without /usr/bin/chromium (or $AGENTHOST_CHROMIUM) the tests skip, loudly; under CI=true they
fail instead. Every wait is bounded (Playwright's timeouts, events, pytest-timeout).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import struct
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

if importlib.util.find_spec("playwright") is None and not os.environ.get("CI"):
    pytest.skip(
        "NO PLAYWRIGHT: the browser tool tests did not run (pip install -e '.[dev]')",
        allow_module_level=True,
    )
if not shutil.which(os.environ.get("AGENTHOST_CHROMIUM", "/usr/bin/chromium")) and not (
    os.environ.get("CI")
):
    pytest.skip(
        "NO CHROMIUM: the browser tool tests did not run (apt-get install chromium)",
        allow_module_level=True,
    )

from aiohttp import web
from aiohttp.test_utils import TestServer

from agenthost.backends.sessions import open_session_store
from agenthost.backends.tools.browser import (
    BrowserLimits,
    BrowserPool,
    BrowserTools,
    PolicyProxy,
    browser_tools,
)
from agenthost.backends.tools.web import WebPolicy
from agenthost.backends.tools.web.ssrf import BlockedAddress
from agenthost.config.tools import load_tools
from agenthost.core.errors import ConfigError, ToolError
from agenthost.core.messages import ImagePart
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.tools import ToolOutput
from agenthost.testing.scripted import ScriptedModel, tool_call

pytestmark = pytest.mark.integration

Handler = Callable[[web.Request], Awaitable[web.Response]]
LOOPBACK = WebPolicy(allowed_hosts=["127.0.0.1"])
A = ("app", "ann", "trip")
B = ("app", "bob", "trip")

HOME = """<html><head><title>Fjords</title></head><body>
<h1>Fjords of Norway</h1><p>Long, narrow inlets made by glaciers.</p>
<a href="/next">Read on</a>
<button id="reveal" onclick="document.getElementById('out').textContent='Revealed!'">Show</button>
<p id="out"></p>
<form action="/search"><input name="q" placeholder="Search fjords"></form>
</body></html>"""

PROBES = """<html><head><title>Probes</title></head><body><p>Probing.</p>
<iframe src="http://169.254.169.254/latest/meta-data/"></iframe>
<p id="fetch">waiting</p>
<script>
fetch("http://10.0.0.1/").then(() => "reached", () => "fetch failed")
  .then((what) => { document.getElementById("fetch").textContent = what; });
</script></body></html>"""


class Site:
    """Pages on 127.0.0.1; `hanging` is set when /hang got its request, which never ends."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.hanging = asyncio.Event()
        self.release = asyncio.Event()
        self.server: TestServer | None = None
        routes = {
            "/": lambda r: _html(HOME),
            "/next": lambda r: _html("<title>Next</title><p>Geiranger and Sogne.</p>"),
            "/search": lambda r: _html(f"<title>Results</title><p>You searched {r.query['q']}</p>"),
            "/probes": lambda r: _html(PROBES),
            "/popup": lambda r: _html('<a href="/next" target="_blank">Pop out</a>'),
            "/long": lambda r: _html("<title>Long</title><p>" + "word " * 10_000 + "END</p>"),
            "/cookie/set": self._set_cookie,
            "/cookie/show": lambda r: _html(f"<p>cookie={r.cookies.get('who', 'none')}</p>"),
        }
        for path, handler in routes.items():
            self.app.router.add_get(path, _async(handler))
        self.app.router.add_get("/redirect", self._redirect)
        self.app.router.add_get("/hang", self._hang)

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.port is not None
        return self.server.port

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def _set_cookie(self, request: web.Request) -> web.Response:
        response = _html("<p>set</p>")
        response.set_cookie("who", request.query["v"])
        return response

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def _hang(self, request: web.Request) -> web.Response:
        self.hanging.set()
        await self.release.wait()
        return _html("<p>late</p>")


def _async(handler: Callable[[web.Request], web.Response]) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        return handler(request)

    return handle


def _html(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/html")


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    site = Site()
    site.server = TestServer(site.app, host="127.0.0.1")
    await site.server.start_server()
    try:
        yield site
    finally:
        site.release.set()
        await site.server.close()


@pytest.fixture
async def browser() -> AsyncIterator[BrowserTools]:
    async with BrowserTools(BrowserPool(policy=LOOPBACK)) as tools:
        yield tools


async def test_open_read_click_and_fill_a_page(site: Site, browser: BrowserTools) -> None:
    text = await browser.open(A, site.url("/"))
    assert "Title: Fjords" in text and "Long, narrow inlets made by glaciers." in text
    assert '[e1] link "Read on" -> ' + site.url("/next") in text
    assert '[e2] button "Show"' in text
    assert '[e3] input text name=q placeholder="Search fjords"' in text

    assert "Revealed!" in await browser.click(A, ref="e2")
    assert "Revealed!" in await browser.read(A)  # the page state stays between calls
    assert "Title: Next" in await browser.click(A, text="Read on")
    await browser.open(A, site.url("/"))
    assert "Revealed!" in await browser.click(A, selector="button#reveal")

    assert "Filled e3" in await browser.fill(A, "Geiranger", ref="e3")
    results = await browser.fill(A, "Sogne", selector="input[name=q]", submit=True)
    assert "Title: Results" in results and "You searched Sogne" in results
    assert (await browser.open(A, site.url("/missing"))).startswith("HTTP 404 Not Found\nTitle:")


async def test_a_popup_becomes_the_current_page(site: Site, browser: BrowserTools) -> None:
    await browser.open(A, site.url("/popup"))
    assert "Title: Next" in await browser.click(A, ref="e1")
    assert "Geiranger and Sogne." in await browser.read(A)


async def test_a_long_page_is_read_in_parts(site: Site, browser: BrowserTools) -> None:
    first = await browser.open(A, site.url("/long"))
    assert "[characters 0-20000 of 50003; browser_read(offset=20000) reads on]" in first
    last = await browser.read(A, offset=50000)
    assert "END" in last and "[characters 50000-50003 of 50003]" in last


async def test_element_names_are_checked(site: Site) -> None:
    pool = BrowserPool(policy=LOOPBACK, limits=BrowserLimits(action_timeout=1))
    async with BrowserTools(pool) as browser:
        await _check_names(site, browser)


async def _check_names(site: Site, browser: BrowserTools) -> None:
    await browser.open(A, site.url("/"))
    with pytest.raises(ToolError, match="exactly one of ref, selector or text"):
        await browser.click(A, ref="e1", text="Read on")
    with pytest.raises(ToolError, match="'#1' is not a ref"):
        await browser.click(A, ref="#1")
    with pytest.raises(ToolError, match="Timeout 1000ms exceeded"):  # nothing matches
        await browser.click(A, selector="#missing")


async def test_a_screenshot_is_an_image_part(site: Site, browser: BrowserTools) -> None:
    await browser.open(A, site.url("/"))
    output = await browser.screenshot(A)
    assert isinstance(output, ToolOutput) and len(output.parts) == 1
    image = output.parts[0]
    assert image.mime_type == "image/png" and image.data is not None
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", image.data[16:24])  # the IHDR chunk
    assert (width, height) == (1280, 800)
    assert output.content.startswith(f"[image: image/png, {len(image.data)} bytes] screenshot")

    full = await browser.screenshot(A, full_page=True)
    assert full.parts[0].data is not None
    assert struct.unpack(">II", full.parts[0].data[16:24])[0] == 1280


async def test_a_page_cannot_reach_private_addresses(site: Site, browser: BrowserTools) -> None:
    """The page is on an allowed host; its iframe (metadata address) and its fetch (10/8)
    are refused by the proxy, and the answer says so."""
    text = await browser.open(A, site.url("/probes"))
    assert "Probing." in text
    async with browser.pool.using(A) as session:
        assert session.page is not None
        await session.page.wait_for_function(
            "document.getElementById('fetch').textContent === 'fetch failed'"
        )
    text += await browser.read(A)
    assert "169.254.169.254:80 (169.254.169.254 is a private, loopback, link-local" in text
    assert "10.0.0.1:80 (10.0.0.1 is a private" in text
    assert "reached" not in text


async def test_a_redirect_to_loopback_is_refused(site: Site) -> None:
    """site.test is allowed by name (the test's resolver maps it to 127.0.0.1); the redirect
    to 127.0.0.1 itself is not, as loopback addresses are not allowed here."""

    async def resolve(host: str, port: int) -> list[str]:
        if host == "site.test":
            return ["127.0.0.1"]
        raise BlockedAddress(f"cannot resolve {host!r}")

    pool = BrowserPool(policy=WebPolicy(allowed_hosts=["site.test"]), resolve=resolve)
    async with BrowserTools(pool) as tools:
        # the name is resolved by the proxy only: Chromium's own resolver knows no site.test
        assert "Fjords of Norway" in await tools.open(A, site.url("/", host="site.test"))
        target = site.url("/next")
        with pytest.raises(ToolError) as refused:
            await tools.open(A, site.url(f"/redirect?to={target}", host="site.test"))
        assert f"blocked 127.0.0.1:{site.port} (127.0.0.1 is a private, loopback" in str(
            refused.value
        )
        with pytest.raises(ToolError, match=f"refused {target}: blocked 127.0.0.1"):
            await tools.open(A, target)
        with pytest.raises(ToolError, match="localhost is not allowed"):
            await tools.open(A, site.url("/", host="localhost"))


async def test_only_http_urls_are_opened(browser: BrowserTools) -> None:
    for url in ("file:///etc/passwd", "chrome://version", "javascript:alert(1)", "http:///x"):
        with pytest.raises(ToolError, match="is not an http\\(s\\) URL"):
            await browser.open(A, url)
    assert not browser.pool.running  # refused before the browser was even started


async def test_sessions_do_not_share_cookies(site: Site, browser: BrowserTools) -> None:
    # parallel calls of a new session make one context, and run one at a time
    await asyncio.gather(browser.open(A, site.url("/")), browser.read(A), browser.read(A))
    assert browser.pool.contexts() == 1
    await browser.open(A, site.url("/cookie/set?v=ann"))
    assert "cookie=ann" in await browser.open(A, site.url("/cookie/show"))
    assert "cookie=none" in await browser.open(B, site.url("/cookie/show"))
    await browser.open(B, site.url("/cookie/set?v=bob"))
    assert "cookie=ann" in await browser.open(A, site.url("/cookie/show"))
    assert sorted(browser.pool.sessions()) == sorted([A, B])
    assert browser.pool.contexts() == 2


async def test_the_least_recently_used_and_idle_sessions_are_closed(site: Site) -> None:
    pool = BrowserPool(policy=LOOPBACK, limits=BrowserLimits(max_sessions=2))
    async with BrowserTools(pool) as tools:
        c = ("app", "cid", "trip")
        for key in (A, B):
            await tools.open(key, site.url("/cookie/set?v=x"))
        await tools.read(A)  # A is now used more recently than B
        await tools.open(c, site.url("/"))
        assert pool.sessions() == [A, c]  # B went
        assert "cookie=none" in await tools.open(B, site.url("/cookie/show"))  # a new context

    pool = BrowserPool(policy=LOOPBACK, limits=BrowserLimits(idle_timeout=0))
    async with BrowserTools(pool) as tools:
        await tools.open(A, site.url("/"))
        await tools.open(B, site.url("/"))
        assert pool.sessions() == [B]  # A was idle for at least 0 s


async def test_a_cancelled_call_closes_its_page(site: Site, browser: BrowserTools) -> None:
    await browser.open(A, site.url("/cookie/set?v=ann"))
    opening = asyncio.create_task(browser.open(A, site.url("/hang")))
    await site.hanging.wait()
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    async with browser.pool.using(A) as session:
        assert session.page is None  # closed: nothing it started keeps loading
    # the session goes on: a new page, the same cookies
    assert "cookie=ann" in await browser.open(A, site.url("/cookie/show"))


async def test_a_slow_page_times_out(site: Site) -> None:
    pool = BrowserPool(policy=LOOPBACK, limits=BrowserLimits(navigation_timeout=1))
    async with BrowserTools(pool) as tools:
        with pytest.raises(ToolError, match="Timeout 1000ms exceeded"):
            await tools.open(A, site.url("/hang"))
        assert "Fjords of Norway" in await tools.open(A, site.url("/"))


async def test_the_pool_stops_with_its_last_holder(site: Site) -> None:
    pool = BrowserPool(policy=LOOPBACK)
    tools = BrowserTools(pool)
    async with pool, tools:
        await tools.open(A, site.url("/"))
        async with tools:
            pass
        assert pool.running  # one holder left
    assert not pool.running and pool.sessions() == []


async def test_a_run_uses_the_tools_across_runs(site: Site) -> None:
    """browser_open in one run, browser_click and browser_screenshot in the next: the same
    page, because the page belongs to the session. The agent closes the browser with it."""
    model = ScriptedModel(
        [
            tool_call("browser_open", f'{{"url": "{site.url("/")}"}}'),
            "Opened.",
            tool_call("browser_click", '{"text": "Show"}'),
            tool_call("browser_screenshot"),
            "Revealed.",
        ],
        name="test:browser",
    )
    tools = browser_tools(BrowserPool(policy=LOOPBACK))
    agent = LLMAgent(model=model, name="surfer", tools=tools, parallel_tools=False)
    async with (
        open_session_store("memory://") as store,
        Runner(agent, store=store, app="t") as runner,
    ):
        first = await collect(runner.run("ann", "s1", "open it"))
        opened = next(e for e in first if e.type == "tool.call.completed")
        assert opened.error is None and "Fjords of Norway" in opened.text
        second = await collect(runner.run("ann", "s1", "show it"))
        done = [e for e in second if e.type == "tool.call.completed"]
        assert "Revealed!" in done[0].text
        assert done[1].text.startswith("[image: image/png, ")
        assert final_text(second) == "Revealed."
        shown = model.calls[-1][-1]  # the screenshot reached the model after its result
        assert shown.role == "tool" and shown.text.startswith("The image returned by")
        image = shown.parts[1]
        assert (
            isinstance(image, ImagePart)
            and image.data is not None
            and image.data.startswith(b"\x89PNG\r\n\x1a\n")
        )
        pool = tools[0]._pool
        assert pool.running and pool.sessions() == [("t", "ann", "s1")]
    assert not pool.running


async def test_a_missing_chromium_is_named(site: Site) -> None:
    pool = BrowserPool(policy=LOOPBACK, executable="/nonexistent/chromium")
    async with BrowserTools(pool) as tools:
        with pytest.raises(ConfigError, match="No Chromium at '/nonexistent/chromium'"):
            await tools.open(A, site.url("/"))
        assert not pool.running


async def test_called_outside_a_run_the_tools_say_so() -> None:
    tool = browser_tools(BrowserPool(policy=LOOPBACK))[1]
    with pytest.raises(ToolError, match="inside a run"):
        await tool.call({})


def test_config_refs_name_the_bundled_tools() -> None:
    names = [t.spec.name for t in load_tools(["browser:*"])]
    assert names == [
        "browser_open",
        "browser_read",
        "browser_click",
        "browser_fill",
        "browser_screenshot",
    ]
    assert [t.spec.name for t in load_tools(["browser:open", "browser:read"])] == [
        "browser_open",
        "browser_read",
    ]


async def test_the_proxy_refuses_by_policy_and_pins_what_it_checked() -> None:
    """A raw SOCKS5 client: a refused address gets reply 0x02; an allowed name is resolved
    once per connection and the connection goes to that answer."""
    lookups: list[str] = []
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = echo.sockets[0].getsockname()[1]

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["10.9.9.9"]  # a rebinding DNS

    async with echo, PolicyProxy(WebPolicy(allowed_hosts=["127.0.0.1"]), resolve) as proxy:
        proxy_port = int(proxy.url.rsplit(":", 1)[1])
        assert await _socks_connect(proxy_port, b"\x01" + bytes([10, 0, 0, 1]), 80) == 2
        assert [str(b) for b in proxy.take_blocked()] == [
            "10.0.0.1:80 (10.0.0.1 is a private, loopback, link-local or reserved address; "
            "web tools may only reach public addresses unless allowed_hosts or allow_private "
            "permits it)"
        ]
        name = b"echo.test"
        assert await _socks_connect(proxy_port, b"\x03" + bytes([len(name)]) + name, port) == 0
        assert lookups == ["echo.test"]
        # the second lookup answers a private address: refused, never connected
        assert await _socks_connect(proxy_port, b"\x03" + bytes([len(name)]) + name, port) == 2


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.read(100))
    await writer.drain()
    writer.close()


async def _socks_connect(proxy_port: int, address: bytes, port: int) -> int:
    """The proxy's reply code to CONNECT; on success the tunnel must echo."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    try:
        writer.write(b"\x05\x01\x00")
        assert await reader.readexactly(2) == b"\x05\x00"
        writer.write(b"\x05\x01\x00" + address + struct.pack("!H", port))
        reply = await reader.readexactly(10)
        if reply[1] == 0:
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
        return reply[1]
    finally:
        writer.close()


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "browser"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("surf.py", ["[browser_click] Title: Fjords", "Geiranger, Sogne, Hardanger", "Done:"]),
        ("browser_in_code.py", ["Title: Sognefjord", "205 km", "[image: image/png, "]),
    ],
)
async def test_the_examples_run(name: str, shown: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTHOST_WEB"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        env={**env, "AGENTHOST_HOME": str(tmp_path / "home")},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    for text in shown:
        assert text in out.decode()
    if name == "browser_in_code.py":
        assert (tmp_path / "page.png").read_bytes().startswith(b"\x89PNG")
