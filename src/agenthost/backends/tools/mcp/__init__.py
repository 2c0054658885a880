"""MCP tools: `McpServer` connects to an MCP server (a subprocess on stdio or streamable HTTP)
and gives its tools as ours, named `server__tool`. Needs the `mcp` extra
(`pip install 'agenthost[mcp]'`)."""

from __future__ import annotations

from agenthost.backends.tools.mcp._names import namespaced, selected, server_name_problem
from agenthost.backends.tools.mcp._server import McpServer, McpTool

__all__ = ["McpServer", "McpTool", "namespaced", "selected", "server_name_problem"]
