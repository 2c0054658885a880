"""The plugin SDK: run an agent in its own process, speaking agent protocol v1 over JSON-RPC.

Write the agent as you would in-process (a `manifest` and `async def run(ctx, host)` yielding
results), then serve it::

    from agenthost.plugin import serve

    if __name__ == "__main__":
        serve(MyAgent())            # stdio: the host starts this script as a subprocess
        # or: serve_http(MyAgent(), "127.0.0.1", 8765)

Its `host` is a `HostProxy`: each call goes back to the host process as a JSON-RPC request
carrying the run id, and is authorized there against that run's resources. One process
serves many runs at once. The wire protocol is in docs/plugin-protocol.md.

This package imports only agenthost.core and agenthost.ports (and aiohttp for HTTP).
"""

from agenthost.plugin._endpoint import Endpoint
from agenthost.plugin._http import build_app, serve_http, start_http
from agenthost.plugin._proxy import HostProxy
from agenthost.plugin._stdio import serve, serve_stdio

__all__ = [
    "Endpoint",
    "HostProxy",
    "build_app",
    "serve",
    "serve_http",
    "serve_stdio",
    "start_http",
]
