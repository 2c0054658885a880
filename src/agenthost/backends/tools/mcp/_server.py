"""One MCP server as a toolset: the connection (a subprocess on stdio, or streamable HTTP), its
tool list (cached, refreshed when the server says it changed) and tool calls with a timeout.

`async with McpServer("time", command="mcp-server-time") as server: server.tools()` gives
our Tools. Everything it opened (the ClientSession, the subprocess or HTTP client, the
refresh task) is owned by one AsyncExitStack and closed on exit, on a failed start and on
cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Self

from mcp import Client, StdioServerParameters, types
from mcp.client import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from pydantic import FileUrl

from agenthost.backends.tools.mcp._names import namespaced, selected, server_name_problem
from agenthost.backends.tools.mcp._results import to_output
from agenthost.core.errors import ConfigError, ToolError, ToolTimeout
from agenthost.ports.models import ToolSpec
from agenthost.ports.tools import ToolOutput

log = logging.getLogger("agenthost.mcp")

_MAX_PAGES = 100


class McpServer:
    """An MCP server's tools. Give `command` (+ `args`, `env`, `cwd`) for a subprocess on
    stdio, or `url` (+ `headers`) for streamable HTTP. `timeout` bounds each call (seconds),
    `connect_timeout` the start (spawn + handshake + first listing). `roots` are directories
    offered to the server as MCP roots (file:// URIs)."""

    def __init__(
        self,
        name: str,
        *,
        command: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 60.0,
        connect_timeout: float = 30.0,
        roots: Sequence[str | Path] = (),
    ) -> None:
        problem = server_name_problem(name)
        if problem is not None:
            raise ConfigError(problem)
        if (command is None) == (url is None):
            raise ConfigError(
                f"MCP server {name!r}: give either command (a subprocess on stdio) or url "
                f"(streamable HTTP), not both and not neither."
            )
        self.name = name
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._target: StdioServerParameters | str
        self._headers = dict(headers or {})
        if command is not None:
            self._target = StdioServerParameters(
                command=command, args=list(args), env=dict(env) if env else None, cwd=cwd
            )
        else:
            assert url is not None
            self._target = url
        self._roots = [Path(r).resolve() for r in roots]
        self._client: Client | None = None
        self._stack: AsyncExitStack | None = None
        self._tools: dict[str, types.Tool] = {}
        self._made: dict[str, McpTool] = {}  # one Tool object per tool name
        self._stale = asyncio.Event()
        self._changed = asyncio.Condition()
        self.version = 0  # bumped on every refresh of the tool list
        self.notices = 0  # tools/list_changed notifications received

    def __repr__(self) -> str:
        target = self._target if isinstance(self._target, str) else self._target.command
        return f"McpServer({self.name!r}, {target!r})"

    # ---- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError(f"MCP server {self.name!r} is already open")
        async with AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    self._client = await stack.enter_async_context(self._make_client(stack))
                    # a list_changed that arrives during this first listing is still
                    # followed by a refresh (the listing may predate the change)
                    await self._refresh(clear=False)
            except TimeoutError as exc:
                raise ToolError(
                    f"MCP server {self.name!r} did not start within {self.connect_timeout}s "
                    f"({self!r}); check the command or URL, or raise connect_timeout.",
                    tool_name=self.name,
                ) from exc
            except (ConfigError, ToolError):
                raise
            except Exception as exc:
                raise ToolError(
                    f"MCP server {self.name!r} could not be started ({self!r}): "
                    f"{type(exc).__name__}: {exc}",
                    tool_name=self.name,
                ) from exc
            task = asyncio.create_task(self._refresher(), name=f"mcp-refresh-{self.name}")
            stack.push_async_callback(_cancel, task)
            self._stack = stack.pop_all()
        log.info("MCP server %s: %d tools", self.name, len(self._tools))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def _make_client(self, stack: AsyncExitStack) -> Client:
        target: Any = self._target
        if isinstance(target, str):
            http = create_mcp_http_client(headers=self._headers or None)
            stack.push_async_callback(http.aclose)  # closed after the session (LIFO)
            target = streamable_http_client(target, http_client=http)
        return Client(
            target,
            message_handler=self._on_message,
            list_roots_callback=self._list_roots if self._roots else None,
            cache=None,
        )

    # ---- the tool list --------------------------------------------------------------------

    def tools(
        self, *, allow: Sequence[str] | None = None, deny: Sequence[str] | None = None
    ) -> list[McpTool]:
        """The server's tools as our Tools (the cached listing), filtered by MCP name."""
        return [
            self._made.setdefault(name, McpTool(self, name))
            for name in self._tools
            if selected(name, allow, deny)
        ]

    def spec_of(self, tool: str) -> ToolSpec:
        """What the model is told about `tool` (the latest listing; the last one known if the
        server dropped it)."""
        found = self._tools.get(tool)
        description = (found.description or found.title or "") if found is not None else ""
        schema: dict[str, Any] = {"type": "object"}
        if found is not None:
            schema = dict(found.input_schema)
        schema.setdefault("properties", {})
        name = namespaced(self.name, tool)
        return ToolSpec(name=name, description=description, parameters=schema)

    async def list_tools(self, *, refresh: bool = False) -> list[types.Tool]:
        """The server's tools: the cached listing, re-fetched when asked or when the server
        said the list changed."""
        if refresh or self._stale.is_set():
            await self._refresh()
        return list(self._tools.values())

    async def wait_changed(self, version: int) -> int:
        """Wait until the tool list was refreshed past `version`; the new version."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.version > version)
            return self.version

    async def _refresh(self, *, clear: bool = True) -> None:
        client = self._connected()
        if clear:
            self._stale.clear()
        tools: dict[str, types.Tool] = {}
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools.update((t.name, t) for t in page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        self._tools = tools
        async with self._changed:
            self.version += 1
            self._changed.notify_all()

    async def _refresher(self) -> None:
        while True:
            await self._stale.wait()
            try:
                await self._refresh()
            except Exception as exc:  # the next call or listing tries again
                log.warning("MCP server %s: refreshing the tool list failed: %s", self.name, exc)
                self._stale.set()
                await asyncio.sleep(1.0)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            log.debug("MCP server %s: the tool list changed", self.name)
            self.notices += 1
            self._stale.set()
        elif isinstance(message, Exception):
            log.warning("MCP server %s: %s", self.name, message)

    async def _list_roots(
        self, context: ClientRequestContext
    ) -> types.ListRootsResult | types.ErrorData:
        roots = [types.Root(uri=FileUrl(p.as_uri()), name=p.name) for p in self._roots]
        return types.ListRootsResult(roots=roots)

    # ---- calls ----------------------------------------------------------------------------

    async def call(
        self, tool: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutput:
        """Call `tool` (its MCP name). A tool error comes back as `is_error`; a timeout raises
        ToolTimeout, a broken connection ToolError; cancellation cancels the request."""
        client = self._connected()
        seconds = timeout if timeout is not None else self.timeout
        try:
            if seconds is None:
                result = await client.call_tool(tool, arguments)
            else:
                async with asyncio.timeout(seconds):
                    result = await client.call_tool(tool, arguments)
        except TimeoutError as exc:
            raise ToolTimeout(tool_name=namespaced(self.name, tool), seconds=seconds or 0) from exc
        except Exception as exc:
            raise ToolError(
                f"MCP server {self.name!r}, tool {tool!r}: {type(exc).__name__}: {exc}",
                tool_name=namespaced(self.name, tool),
            ) from exc
        return to_output(result)

    def _connected(self) -> Client:
        if self._client is None:
            raise ToolError(
                f"MCP server {self.name!r} is not open: use `async with` (the runtime opens "
                f"the servers of agenthost.yaml's mcp_servers)",
                tool_name=self.name,
            )
        return self._client


class McpTool:
    """One tool of an MCP server, as our Tool port (named `server__tool`)."""

    def __init__(self, server: McpServer, tool: str) -> None:
        self.server = server
        self.tool = tool

    @property
    def spec(self) -> ToolSpec:
        return self.server.spec_of(self.tool)

    async def call(self, arguments: dict[str, Any]) -> ToolOutput:
        return await self.server.call(self.tool, arguments)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, McpTool) and other.server is self.server and other.tool == self.tool
        )

    def __hash__(self) -> int:
        return hash((id(self.server), self.tool))

    def __repr__(self) -> str:
        return f"McpTool({self.server.name!r}, {self.tool!r})"


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


__all__ = ["McpServer", "McpTool"]
