"""The five browser tools over a `BrowserPool`: open, read, click, fill, screenshot.

Each tool acts on the page of the session whose run calls it (`engine.host.current_run`), so
`browser_open` then `browser_click` then `browser_read` in later calls, or later runs, continue
on the same page. Separate small tools rather than one tool with an `action` argument (the way
Playwright MCP and agent-browser do it): each has a schema of its own that says exactly what it
takes, which models, small ones above all, follow better than a union of options.

Elements are named by the refs `browser_read` lists (`e7`), by a CSS selector, or (click only)
by their visible text. Every failure is a `ToolError` the model reads; a connection the policy
refused is named with the reason (`blocked: 10.0.0.5:80 (... private ...)`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agenthost.backends.tools.browser.page_text import (
    READ_PAGE,
    REF_PATTERN,
    PageView,
    ref_selector,
)
from agenthost.backends.tools.browser.pool import BrowserPool, BrowserSession, SessionKey
from agenthost.core.errors import ToolError
from agenthost.core.messages import ImagePart
from agenthost.engine.function_tool import FunctionTool
from agenthost.engine.host import current_run
from agenthost.ports.tools import ToolOutput

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page, Response

# a link (or a form's button) that opens its target in another window
_OPENS_NEW_PAGE = """(e) => {
  const owner = e.closest("a[href]") || (e.form || null);
  const target = owner ? (owner.getAttribute("target") || "") : "";
  return target !== "" && !["_self", "_parent", "_top"].includes(target.toLowerCase());
}"""


class BrowserTools:
    """The browser tools of one pool. `tools()` gives them as Tools (each closes the pool
    with the agent that holds it); `open(key, url)` and the others act for an explicit
    session key `(app, user, session)` without a run."""

    def __init__(self, pool: BrowserPool | None = None) -> None:
        self.pool = pool or BrowserPool()

    async def __aenter__(self) -> BrowserTools:
        await self.pool.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.pool.aclose()

    async def aclose(self) -> None:
        await self.pool.aclose()

    def tools(self) -> list[BrowserTool]:
        functions = (
            self.browser_open,
            self.browser_read,
            self.browser_click,
            self.browser_fill,
            self.browser_screenshot,
        )
        return [BrowserTool(self.pool, f) for f in functions]

    # ---- the tools, as the model sees them ------------------------------------------------

    async def browser_open(self, url: str) -> str:
        """Open a web page (http or https) in your browser and return its text and the links,
        buttons and fields on it (each with a ref such as e3).

        Args:
            url: The full URL, e.g. https://example.com/.
        """
        return await self.open(_run_key("browser_open"), url)

    async def browser_read(self, offset: int = 0) -> str:
        """Read the current page of your browser again: its text (from `offset`) and its
        controls with their refs. Use it after a click or to read on in a long page.

        Args:
            offset: The character of the page text to start at (an answer says where the
                next part starts).
        """
        return await self.read(_run_key("browser_read"), offset)

    async def browser_click(self, ref: str = "", selector: str = "", text: str = "") -> str:
        """Click an element of the current page, named by exactly one of ref, selector or
        text; returns the page after the click.

        Args:
            ref: A ref from the page's controls, e.g. e3 (best).
            selector: A CSS selector, e.g. button#submit.
            text: The element's visible text, e.g. Sign in.
        """
        return await self.click(_run_key("browser_click"), ref=ref, selector=selector, text=text)

    async def browser_fill(
        self, value: str, ref: str = "", selector: str = "", submit: bool = False
    ) -> str:
        """Type a value into a field of the current page (replacing what is there), named
        by ref or by CSS selector; submit presses Enter afterwards.

        Args:
            value: The text to put in the field.
            ref: A ref from the page's controls, e.g. e2 (best).
            selector: A CSS selector, e.g. input[name=q].
            submit: Press Enter after filling (sends a search or a form).
        """
        key = _run_key("browser_fill")
        return await self.fill(key, value, ref=ref, selector=selector, submit=submit)

    async def browser_screenshot(self, full_page: bool = False) -> ToolOutput:
        """Take a screenshot (PNG) of the current page of your browser.

        Args:
            full_page: The whole page (cut at a maximum height) instead of what the window
                shows.
        """
        return await self.screenshot(_run_key("browser_screenshot"), full_page=full_page)

    # ---- the same for an explicit session -------------------------------------------------

    async def open(self, key: SessionKey, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ToolError(
                f"browser_open: {url!r} is not an http(s) URL with a host; give e.g. "
                f"https://example.com/",
                tool_name="browser_open",
            )
        async with self._acting("browser_open", key) as (session, page):
            try:
                response = await page.goto(url.strip(), wait_until="load")
            except Exception as exc:
                raise _refusal("browser_open", url, session, exc) from None
            return await self._view(session, page, status=_status(response))

    async def read(self, key: SessionKey, offset: int = 0) -> str:
        async with self._acting("browser_read", key) as (session, page):
            return await self._view(session, page, offset=max(0, offset))

    async def click(
        self, key: SessionKey, *, ref: str = "", selector: str = "", text: str = ""
    ) -> str:
        async with self._acting("browser_click", key) as (session, page):
            target = _locate("browser_click", page, ref=ref, selector=selector, text=text)
            try:
                if await target.evaluate(_OPENS_NEW_PAGE):
                    async with page.context.expect_page() as popup:
                        await target.click()
                    page = await popup.value  # current from now on (BrowserSession follows)
                else:
                    await target.click()
                await page.wait_for_load_state("load")
            except Exception as exc:
                raise _refusal("browser_click", page.url, session, exc) from None
            return await self._view(session, await session.current_page())

    async def fill(
        self,
        key: SessionKey,
        value: str,
        *,
        ref: str = "",
        selector: str = "",
        submit: bool = False,
    ) -> str:
        async with self._acting("browser_fill", key) as (session, page):
            target = _locate("browser_fill", page, ref=ref, selector=selector)
            try:
                await target.fill(value)
                if submit:
                    await target.press("Enter")
                    await page.wait_for_load_state("load")
            except Exception as exc:
                raise _refusal("browser_fill", page.url, session, exc) from None
            if submit:
                return await self._view(session, await session.current_page())
            return f"Filled {ref or selector} with {len(value)} characters." + _blocked(session)

    async def screenshot(self, key: SessionKey, *, full_page: bool = False) -> ToolOutput:
        limits = self.pool.limits
        async with self._acting("browser_screenshot", key) as (session, page):
            options: dict[str, Any] = {"type": "png"}
            if full_page:
                height = await page.evaluate("document.documentElement.scrollHeight")
                width = limits.viewport[0]
                height = max(1, min(int(height), limits.max_screenshot_height))
                options.update(
                    full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height}
                )
            try:
                data = await page.screenshot(**options)
                mime = "image/png"
                if len(data) > limits.max_screenshot_bytes:
                    options.update(type="jpeg", quality=60)
                    data, mime = await page.screenshot(**options), "image/jpeg"
            except Exception as exc:
                raise _refusal("browser_screenshot", page.url, session, exc) from None
            if len(data) > limits.max_screenshot_bytes:
                raise ToolError(
                    f"browser_screenshot: the screenshot is {len(data)} bytes even as JPEG; "
                    f"the limit is {limits.max_screenshot_bytes}. Take the window only "
                    f"(full_page=false).",
                    tool_name="browser_screenshot",
                )
            title = await page.title()
            text = (
                f"[image: {mime}, {len(data)} bytes] screenshot of {page.url} "
                f"({title or 'no title'})" + _blocked(session)
            )
            return ToolOutput(content=text, parts=(ImagePart(data=data, mime_type=mime),))

    # ---- plumbing ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _acting(
        self, tool: str, key: SessionKey
    ) -> AsyncIterator[tuple[BrowserSession, Page]]:
        async with self.pool.using(key) as session:
            try:
                yield session, await session.current_page()
            except ToolError:
                raise
            except Exception as exc:  # Playwright's errors (a page gone, a script failing)
                raise ToolError(f"{tool}: {_first_line(exc)}", tool_name=tool) from None

    async def _view(
        self, session: BrowserSession, page: Page, *, offset: int = 0, status: str = ""
    ) -> str:
        limits = self.pool.limits
        raw = await page.evaluate(READ_PAGE, [offset, limits.max_chars, limits.max_controls])
        text = PageView.of(raw, offset).render()
        return (status + text) + _blocked(session)


class BrowserTool(FunctionTool):
    """A browser tool that opens and closes its pool with the agent holding it (the pool
    counts its holders: the browser stops when the last one closes)."""

    def __init__(self, pool: BrowserPool, function: Any) -> None:
        super().__init__(function, run_in_thread=False)
        self._pool = pool

    async def __aenter__(self) -> BrowserTool:
        await self._pool.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._pool.aclose()


def _run_key(tool: str) -> SessionKey:
    found = current_run()
    if found is None:
        raise ToolError(
            f"{tool}: the browser tools keep a browser per session, so they must be called by "
            f"an agent inside a run (Runner.run), not directly",
            tool_name=tool,
        )
    context = found[1].context
    return (context.app, context.user_id, context.conversation_id)


def _locate(tool: str, page: Page, *, ref: str, selector: str, text: str = "") -> Locator:
    given = [
        name for name, value in (("ref", ref), ("selector", selector), ("text", text)) if value
    ]
    if len(given) != 1:
        names = "ref, selector or text" if tool == "browser_click" else "ref or selector"
        raise ToolError(
            f"{tool}: name the element with exactly one of {names} (got "
            f"{', '.join(given) or 'none'})",
            tool_name=tool,
        )
    if ref:
        if not REF_PATTERN.match(ref.strip()):
            raise ToolError(
                f"{tool}: {ref!r} is not a ref; refs look like e3 and come from the controls "
                f"that browser_open and browser_read list",
                tool_name=tool,
            )
        return page.locator(ref_selector(ref.strip())).first
    if selector:
        return page.locator(selector).first
    return page.get_by_text(text).filter(visible=True).first


def _status(response: Response | None) -> str:
    if response is None or response.status < 400:
        return ""
    return f"HTTP {response.status} {response.status_text}\n".replace(" \n", "\n")


def _blocked(session: BrowserSession) -> str:
    blocked = list(dict.fromkeys(str(b) for b in session.proxy.take_blocked()))
    if not blocked:
        return ""
    return "\n\nBlocked by the network policy: " + "; ".join(blocked)


def _refusal(tool: str, url: str, session: BrowserSession, exc: Exception) -> ToolError:
    """A ToolError for a failed page action, naming the policy's refusals when there were."""
    blocked = list(dict.fromkeys(str(b) for b in session.proxy.take_blocked()))
    if blocked and "ERR_SOCKS_CONNECTION_FAILED" in str(exc):
        return ToolError(f"{tool}: refused {url}: blocked {'; '.join(blocked)}", tool_name=tool)
    detail = _first_line(exc)
    if blocked:
        detail += f" (blocked by the network policy: {'; '.join(blocked)})"
    return ToolError(f"{tool}: {detail}", tool_name=tool)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
