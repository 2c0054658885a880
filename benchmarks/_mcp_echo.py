"""A one-tool MCP server (the official SDK's MCPServer) for benchmarks/mcp_overhead.py:
`python _mcp_echo.py` serves stdio, `python _mcp_echo.py http PORT` streamable HTTP."""

from __future__ import annotations

import sys

from mcp.server import MCPServer

server = MCPServer("echo")


@server.tool()
def echo(text: str) -> str:
    """Give the text back."""
    return text


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
