"""One headless Chromium for the process, one isolated browser context per session.

The browser (Debian's /usr/bin/chromium, driven by Playwright; never a downloaded one) starts
on the first tool call and stops when the last owner closes the pool (an agent holding the
tools closes them when its runner closes: `build_runtime`, `serve`). Each session
`(app, user, session)` gets its own BrowserContext: an in-memory profile (cookies, storage,
cache) that no other session sees, with its own `PolicyProxy`, so every connection it makes is
checked against the web policy and its refusals are told to its own tool calls.

A session's context lives in memory only (nothing is written to disk) and stays open across
runs of the same session while the process lives, so `browser_open` in one run and
`browser_read` in the next see the same page and cookies. It is closed when it has been idle
for `idle_timeout` (checked at each call of any session: no timer task), when more than
`max_sessions` are open (the least recently used goes), and when the pool closes. A call that
is cancelled (the run cancelled, the tool timed out) closes the session's page, so nothing the
call started keeps loading; cookies stay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agenthost.backends.tools.browser.proxy import PolicyProxy
from agenthost.backends.tools.web.ssrf import Resolve, WebPolicy, system_resolve
from agenthost.core.errors import ConfigError

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright

log = logging.getLogger("agenthost.browser")

SessionKey = tuple[str, str, str]  # (app, user_id, session_id)
CHROMIUM_ENV = "AGENTHOST_CHROMIUM"
SANDBOX_ENV = "AGENTHOST_BROWSER_SANDBOX"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Chromium's own traffic off, UDP off (QUIC; WebRTC only through the proxy, which is TCP),
# and local name resolution made to fail: names are resolved by the proxy, never here.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--mute-audio",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


@dataclass(frozen=True, slots=True)
class BrowserLimits:
    """Bounds of the browser tools (seconds, characters, bytes, pixels)."""

    navigation_timeout: float = 20.0  # browser_open, and a navigation a click starts
    action_timeout: float = 10.0  # finding and acting on an element
    max_chars: int = 20_000  # page text per browser_open / browser_read answer
    max_controls: int = 60  # links, buttons and fields listed per answer
    max_screenshot_bytes: int = 2_000_000  # a bigger PNG is sent as JPEG, or refused
    max_screenshot_height: int = 4_000  # a full-page screenshot is cut there
    viewport: tuple[int, int] = (1280, 800)
    max_sessions: int = 8  # open contexts; past it the least recently used one is closed
    idle_timeout: float = 600.0  # a context unused this long is closed

    def __post_init__(self) -> None:
        for name in ("navigation_timeout", "action_timeout", "idle_timeout"):
            if getattr(self, name) < 0:
                raise ConfigError(f"BrowserLimits.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_chars", "max_screenshot_bytes", "max_screenshot_height", "max_sessions"):
            if getattr(self, name) < 1:
                raise ConfigError(f"BrowserLimits.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(slots=True, eq=False)
class BrowserSession:
    """The browser state of one session: its context, its current page, its proxy."""

    key: SessionKey
    context: BrowserContext
    proxy: PolicyProxy
    page: Page | None = None
    used_at: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current_page(self) -> Page:
        """The page the tools act on (a new blank one after it was closed)."""
        if self.page is None or self.page.is_closed():
            open_pages = [p for p in self.context.pages if not p.is_closed()]
            self.page = open_pages[-1] if open_pages else await self.context.new_page()
        return self.page

    async def close(self) -> None:
        try:
            with contextlib.suppress(Exception):  # a browser that died is closed already
                await self.context.close()
        finally:
            await self.proxy.aclose()


class BrowserPool:
    """The shared browser and the per-session contexts (see the module docstring).

    `policy=None` reads AGENTHOST_WEB_ALLOWED_HOSTS / AGENTHOST_WEB_ALLOW_PRIVATE when the
    browser starts, as web_fetch does. `executable`: the Chromium binary (default
    $AGENTHOST_CHROMIUM, else /usr/bin/chromium). `sandbox`: Chromium's own sandbox (default
    on, except as root, where Chromium cannot use it; AGENTHOST_BROWSER_SANDBOX=0 turns it
    off, e.g. in a container without user namespaces).
    """

    def __init__(
        self,
        *,
        policy: WebPolicy | None = None,
        limits: BrowserLimits | None = None,
        executable: str | None = None,
        sandbox: bool | None = None,
        resolve: Resolve = system_resolve,
        policy_from_env: Callable[[], WebPolicy] | None = None,
    ) -> None:
        self.policy = policy
        self.limits = limits or BrowserLimits()
        self.executable = executable
        self.sandbox = sandbox
        self.resolve = resolve
        self._policy_from_env = policy_from_env or WebPolicy
        self._users = 0
        self._start_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._guard: PolicyProxy | None = None
        self._active_policy: WebPolicy | None = None
        self._sessions: OrderedDict[SessionKey, BrowserSession] = OrderedDict()

    # ---- ownership: every holder enters once and closes once ---------------------------

    async def __aenter__(self) -> BrowserPool:
        self._users += 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """One holder is done; the last one (or a caller who never entered) stops it all."""
        self._users = max(0, self._users - 1)
        if self._users == 0:
            await self._shutdown()

    @property
    def running(self) -> bool:
        return self._browser is not None

    def contexts(self) -> int:
        """How many browser contexts are open (one per session; for tests and metrics)."""
        return len(self._browser.contexts) if self._browser is not None else 0

    def sessions(self) -> list[SessionKey]:
        """The sessions with an open context, least recently used first."""
        return list(self._sessions)

    # ---- sessions ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def using(self, key: SessionKey) -> AsyncIterator[BrowserSession]:
        """The session's state, its calls one at a time; a cancelled call closes its page."""
        session = await self._session(key)
        async with session.lock:
            session.used_at = time.monotonic()
            if self._sessions.get(key) is session:  # not closed while this call waited
                self._sessions.move_to_end(key)
            try:
                yield session
            except asyncio.CancelledError:
                await asyncio.shield(self._drop_page(session))
                raise
            finally:
                session.used_at = time.monotonic()

    async def close_session(self, key: SessionKey) -> bool:
        session = self._sessions.pop(key, None)
        if session is None:
            return False
        await session.close()
        return True

    async def _session(self, key: SessionKey) -> BrowserSession:
        """The session's state, made on first use (one at a time: two parallel calls of a
        new session must not make two contexts)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                # started in an event loop that has ended (asyncio.run twice): that driver
                # and its browser went with it; the locks belonged to it too
                log.warning("the browser was started in another event loop; starting anew")
                self._forget()
            self._loop = loop
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            browser = await self._ensure_browser()
            await self._expire(keep=key)
            session = self._sessions.get(key)
            if session is None:
                session = await self._new_session(key, browser)
                self._sessions[key] = session
            return session

    async def _new_session(self, key: SessionKey, browser: Browser) -> BrowserSession:
        assert self._active_policy is not None
        proxy = PolicyProxy(self._active_policy, self.resolve)
        await proxy.__aenter__()
        try:
            width, height = self.limits.viewport
            context = await browser.new_context(
                proxy={"server": proxy.url},
                viewport={"width": width, "height": height},
                accept_downloads=False,
                service_workers="block",
            )
        except BaseException:
            await proxy.aclose()
            raise
        context.set_default_navigation_timeout(self.limits.navigation_timeout * 1000)
        context.set_default_timeout(self.limits.action_timeout * 1000)
        session = BrowserSession(key=key, context=context, proxy=proxy)
        context.on("page", lambda page: _follow(session, page))  # a popup becomes current
        return session

    async def _expire(self, *, keep: SessionKey) -> None:
        """Close idle sessions, then the least recently used ones past max_sessions."""
        now = time.monotonic()
        stale = [
            k
            for k, s in self._sessions.items()
            if k != keep and not s.lock.locked() and now - s.used_at >= self.limits.idle_timeout
        ]
        rest = [k for k in self._sessions if k != keep and k not in stale]
        stale += rest[: max(0, len(rest) - (self.limits.max_sessions - 1))]
        for k in stale:
            log.info("closing the browser context of session %s (idle or least recently used)", k)
            await self.close_session(k)

    async def _drop_page(self, session: BrowserSession) -> None:
        page, session.page = session.page, None
        if page is not None:
            with contextlib.suppress(Exception):
                await page.close()

    # ---- the browser process -------------------------------------------------------------

    async def _ensure_browser(self) -> Browser:
        """The running browser, started (again, if Chromium died) when needed; called with
        the start lock held."""
        if self._browser is None or not self._browser.is_connected():
            if self._browser is not None:
                await self._shutdown()
            try:
                await self._launch()
            except BaseException:
                await asyncio.shield(self._shutdown())
                raise
        assert self._browser is not None
        return self._browser

    async def _launch(self) -> None:
        try:
            from playwright.async_api import Error, async_playwright
        except ImportError as exc:
            raise ImportError(
                "The browser tools need Playwright: pip install 'agenthost[browser]' "
                "(it drives the system's Chromium: apt-get install chromium)."
            ) from exc
        executable = self._executable()
        self._active_policy = self.policy or self._policy_from_env()
        self._guard = PolicyProxy(self._active_policy, self.resolve)
        await self._guard.__aenter__()
        self._playwright = await async_playwright().start()
        args = list(CHROMIUM_ARGS)
        if not self._sandbox():
            args.append("--no-sandbox")
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=executable,
                args=args,
                proxy={"server": self._guard.url},
                timeout=60_000,
            )
        except Error as exc:
            raise ConfigError(
                f"Chromium at {executable!r} did not start: {str(exc).splitlines()[0]}. "
                f"Check it runs (`{executable} --headless --version`); set "
                f"{SANDBOX_ENV}=0 where its sandbox cannot work."
            ) from exc
        log.info("browser started: %s (%s)", executable, self._browser.version)

    def _executable(self) -> str:
        path = self.executable or os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
        found = shutil.which(path)
        if found is None:
            raise ConfigError(
                f"No Chromium at {path!r}: install Debian's (apt-get install chromium) or set "
                f"{CHROMIUM_ENV} to a Chromium or Chrome binary."
            )
        return found

    def _sandbox(self) -> bool:
        if self.sandbox is not None:
            return self.sandbox
        if os.environ.get(SANDBOX_ENV, "").strip().lower() in ("0", "false", "no", "off"):
            return False
        return hasattr(os, "geteuid") and os.geteuid() != 0

    async def _shutdown(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        browser, playwright, guard = self._browser, self._playwright, self._guard
        self._forget()
        for session in sessions:
            await session.close()
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.close()
        if playwright is not None:
            with contextlib.suppress(Exception):
                await playwright.stop()
        if guard is not None:
            await guard.aclose()

    def _forget(self) -> None:
        self._sessions.clear()
        self._browser = self._playwright = self._guard = None
        self._active_policy = None


def _follow(session: BrowserSession, page: Page) -> None:
    session.page = page
