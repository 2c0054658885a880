"""MCP servers in agenthost.yaml, and the MCP tools an agent is given.

    mcp_servers:                       # top level: each server once, by name
      time: {command: mcp-server-time, args: ["--local-timezone", "UTC"], timeout: 30}
      docs: {url: "http://127.0.0.1:9000/mcp", headers: {Authorization: "Bearer ${DOCS_KEY}"}}
    agents:
      helper:
        tools: ["mcp:time"]            # every tool of the server `time`
        mcp: {docs: {allow: ["search*"], deny: ["delete_*"]}}   # some tools of `docs`

An agent's MCP tools are named `server__tool` (the server's name is their namespace). The
runtime (`build_runtime`) starts the servers its agent uses before building it, lists their
tools, and closes them when it closes; `mcp_tools` turns them into the agent's tools.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import msgspec

from agenthost.config._types import ConfigStruct, PositiveFloat, Problem, suggestion
from agenthost.core.errors import ConfigError

if TYPE_CHECKING:
    from agenthost.backends.tools.mcp import McpServer
    from agenthost.config.schema import AgentHostConfig
    from agenthost.ports.tools import Tool

PREFIX = "mcp:"
_NAME = re.compile(r"^[a-zA-Z0-9-]+(_[a-zA-Z0-9-]+)*$")


class McpServerConfig(ConfigStruct):
    """An MCP server: `command` (+ `args`, `env`, `cwd`) runs it as a subprocess on stdio;
    `url` (+ `headers`) reaches it over streamable HTTP. `timeout`: seconds per tool call;
    `connect_timeout`: seconds to start and list its tools; `roots`: directories offered to
    the server as MCP roots."""

    command: str | None = None
    args: list[str] = msgspec.field(default_factory=list)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    timeout: PositiveFloat | None = 60.0
    connect_timeout: PositiveFloat = 30.0
    roots: list[str] = msgspec.field(default_factory=list)

    def __repr__(self) -> str:  # headers and env may hold secrets
        target = self.command if self.command is not None else self.url
        return f"McpServerConfig({target!r})"


class McpToolFilter(ConfigStruct):
    """Which tools of a server an agent gets, by MCP tool name or shell pattern: those in
    `allow` (all when unset), less those in `deny`."""

    allow: list[str] | None = None
    deny: list[str] = msgspec.field(default_factory=list)


def server_problems(config: AgentHostConfig) -> list[Problem]:
    problems: list[Problem] = []
    for name, server in config.mcp_servers.items():
        where: tuple[str | int, ...] = ("mcp_servers", name)
        if not _NAME.match(name) or len(name) > 30:
            problems.append(
                (
                    where,
                    f"{name!r} is not a usable MCP server name: use at most 30 letters, digits, "
                    f"'-' and single '_' (it prefixes its tool names, as in {name}__tool)",
                )
            )
        if (server.command is None) == (server.url is None):
            problems.append(
                (
                    where,
                    "give either command: (a subprocess on stdio) or url: (streamable HTTP), "
                    "not both and not neither",
                )
            )
        if server.url is not None and not server.url.startswith(("http://", "https://")):
            problems.append((((*where, "url")), f"{server.url!r} must start with http(s)://"))
    return problems


def agent_problems(
    tools: Sequence[str], mcp: Mapping[str, McpToolFilter], config: AgentHostConfig
) -> list[Problem]:
    """An agent's `tools: ["mcp:NAME"]` and `mcp: {NAME: ...}` must name declared servers."""
    known = list(config.mcp_servers)
    problems: list[Problem] = []
    listed = ", ".join(known) or "none are declared"
    for index, ref in enumerate(tools):
        if ref.startswith(PREFIX) and ref[len(PREFIX) :] not in config.mcp_servers:
            server = ref[len(PREFIX) :]
            problems.append(
                (
                    ("tools", index),
                    f"no MCP server {server!r} in mcp_servers{suggestion(server, known)} "
                    f"(declared: {listed})",
                )
            )
    for server in mcp:
        if server not in config.mcp_servers:
            problems.append(
                (
                    ("mcp", server),
                    f"no MCP server {server!r} in mcp_servers{suggestion(server, known)} "
                    f"(declared: {listed})",
                )
            )
    return problems


def servers_used(config: AgentHostConfig, agent: str) -> list[str]:
    """The MCP servers the agent `agent` and the agents it is made of use, in config order."""
    agents = config.effective_agents()
    seen: set[str] = set()
    todo = [agent]
    used: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in agents:
            continue
        seen.add(name)
        entry = agents[name]
        used.update(_servers_of(entry))
        todo.extend(part for _, part in entry.references())
    return [name for name in config.mcp_servers if name in used]


def _servers_of(entry: Any) -> set[str]:
    refs = getattr(entry, "tools", None) or []
    found = {r[len(PREFIX) :] for r in refs if isinstance(r, str) and r.startswith(PREFIX)}
    return found | set(getattr(entry, "mcp", None) or {})


async def open_servers(
    stack: AsyncExitStack, config: AgentHostConfig, names: Iterable[str]
) -> dict[str, McpServer]:
    """Start the named servers of the config (each closed by `stack`)."""
    names = list(names)
    if not names:
        return {}
    try:
        from agenthost.backends.tools.mcp import McpServer
    except ImportError as exc:
        raise ConfigError(
            f"mcp_servers: using MCP servers ({', '.join(names)}) needs the mcp extra: "
            f"pip install 'agenthost[mcp]' ({exc})"
        ) from exc
    opened: dict[str, McpServer] = {}
    for name in names:
        spec = config.mcp_servers[name]
        server = McpServer(
            name,
            command=spec.command,
            args=spec.args,
            env=spec.env or None,
            cwd=spec.cwd,
            url=spec.url,
            headers=spec.headers,
            timeout=spec.timeout,
            connect_timeout=spec.connect_timeout,
            roots=spec.roots,
        )
        opened[name] = await stack.enter_async_context(server)
    return opened


def agent_tools(
    agent: str,
    refs: Sequence[str],
    filters: Mapping[str, McpToolFilter],
    opened: Mapping[str, McpServer],
    *,
    field: str = "tools",
) -> list[Tool]:
    """An agent's tools: its tool refs (`mcp:NAME` among them) and its `mcp:` filters. Two
    tools of one name are an error naming both sources."""
    from agenthost.config.tools import load_tool_ref, load_tools

    where = f"agents.{agent}.{field}"
    if not filters and not any(r.startswith(PREFIX) for r in refs):
        return load_tools(refs, where=where)
    found: list[tuple[str, Tool]] = []
    for index, ref in enumerate(refs):
        if not ref.startswith(PREFIX):
            found.extend(
                (f"{where}[{index}]", t) for t in load_tool_ref(ref, where=f"{where}[{index}]")
            )
    servers = [r[len(PREFIX) :] for r in refs if r.startswith(PREFIX)]
    for tool in mcp_tools(agent, servers, filters, opened):
        found.append((f"the MCP server of {tool.spec.name!r}", tool))
    seen: dict[str, str] = {}
    for source, tool in found:
        name = tool.spec.name
        if name in seen:
            raise ConfigError(
                f"{source} adds a second tool named {name!r} (the first came from "
                f"{seen[name]}). Remove one of them, or filter the MCP server's tools."
            )
        seen[name] = source
    return [tool for _, tool in found]


def mcp_tools(
    agent: str,
    servers: Sequence[str],
    filters: Mapping[str, McpToolFilter],
    opened: Mapping[str, McpServer],
) -> list[Tool]:
    """The MCP tools of agent `agent`: every tool of `servers` (`tools: ["mcp:NAME"]`) and
    the filtered tools of `filters` (`mcp: {NAME: {allow, deny}}`), from the opened servers."""
    tools: list[Tool] = []
    for name in dict.fromkeys([*servers, *filters]):
        server = opened.get(name)
        if server is None:
            raise ConfigError(
                f"agents.{agent}: the MCP server {name!r} is not running: MCP tools are "
                f"available in a runtime (build_runtime / agenthost run / serve), which starts "
                f"the servers of mcp_servers before building the agent."
            )
        chosen = filters.get(name)
        allow = chosen.allow if chosen is not None else None
        deny = chosen.deny if chosen is not None else None
        found = server.tools(allow=allow, deny=deny)
        if chosen is not None and chosen.allow and not found:
            raise ConfigError(
                f"agents.{agent}.mcp.{name}.allow: no tool of the MCP server matches "
                f"{chosen.allow}; it has: {', '.join(t.tool for t in server.tools())}"
            )
        tools.extend(found)
    return tools
