"""Browser tools: a headless Chromium per process, an isolated context per session.

In agenthost.yaml, `tools: ["browser:*"]` (or `["browser:open", "browser:read"]`, ...) gives an
llm agent the bundled tools browser_open, browser_read, browser_click, browser_fill and
browser_screenshot. They drive Debian's Chromium (/usr/bin/chromium, or $AGENTHOST_CHROMIUM)
through Playwright (`pip install 'agenthost[browser]'`) and reach the network only through a
proxy that applies the web tools' policy: AGENTHOST_WEB_ALLOWED_HOSTS and
AGENTHOST_WEB_ALLOW_PRIVATE, read when the browser starts.

In code, `BrowserTools(BrowserPool(policy=WebPolicy(...), limits=BrowserLimits(...))).tools()`
makes them with explicit settings. See pool.py for the lifecycle and proxy.py for what the
network policy covers.
"""

from __future__ import annotations

from agenthost.backends.tools.browser.actions import BrowserTool, BrowserTools
from agenthost.backends.tools.browser.pool import BrowserLimits, BrowserPool, BrowserSession
from agenthost.backends.tools.browser.proxy import Blocked, PolicyProxy
from agenthost.backends.tools.web import policy_from_env

__all__ = [
    "TOOLS",
    "Blocked",
    "BrowserLimits",
    "BrowserPool",
    "BrowserSession",
    "BrowserTool",
    "BrowserTools",
    "PolicyProxy",
    "browser_tools",
    "click",
    "fill",
    "open",
    "read",
    "screenshot",
]


def browser_tools(pool: BrowserPool | None = None) -> list[BrowserTool]:
    """The five tools over `pool` (default: a new pool with the policy from the environment)."""
    return BrowserTools(pool or BrowserPool(policy_from_env=policy_from_env)).tools()


# The bundled tools ("browser:*" in config): one pool for the process, started on first use
# and stopped when the last agent holding the tools closes.
TOOLS = tuple(browser_tools())
# the config names browser:open, browser:read, ... (`open` shadows the builtin here only)
open, read, click, fill, screenshot = TOOLS
