"""A real uvicorn server on 127.0.0.1 (random port) in a thread, over the fake model server.

The agents come from a config, as `agenthost serve` builds them: `helper` (with a `lookup`
tool: the fake model calls it, then answers "Done: ...") and `plain` (the fake model echoes:
"Echo: <message>").
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from agenthost.config import parse_config
from agenthost.server import create_app

TOOLS = '''
def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"
'''

KEY = "sdk-test-key-0123456789"


def live_config(base_url: str, folder: Path) -> Any:
    (folder / "server_tools_mod.py").write_text(TOOLS)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return parse_config(
        {
            "app": "live",
            "store": "memory://",
            "providers": {"fake": {"base_url": base_url}},
            "agents": {
                "helper": {"model": "fake:fake-model", "tools": ["server_tools_mod:lookup"]},
                "plain": {"model": "fake:fake-model"},
            },
        },
        env={},
    )


class _Server(uvicorn.Server):
    """uvicorn, telling when its start-up has ended (well or not)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.up.set()


@contextmanager
def live_server(app: Any, **options: Any) -> Iterator[str]:
    """Serve `app` until the block ends (`options` go to uvicorn.Config); yields its URL."""
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on", **options)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    if not server.up.wait(30) or not server.started:
        server.should_exit = True
        raise RuntimeError("the server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@contextmanager
def live_agents(
    base_url: str, folder: Path, *, server: dict[str, Any] | None = None, **options: Any
) -> Iterator[str]:
    """The config's agents served with one API key (`KEY`, user `sdk`); `server`: more
    uvicorn.Config options (`http=limited_protocol(...)`: `agenthost serve`'s protocol)."""
    app = create_app(live_config(base_url, folder), api_keys=[f"{KEY}:sdk"], **options)
    with live_server(app, **(server or {})) as url:
        yield url
