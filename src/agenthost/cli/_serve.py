"""`agenthost serve`: the HTTP server (uvicorn) for the agents of a config.

Settings come from the options, then the config's `server:` section, then the defaults; API
keys from `server.api_keys` and AGENTHOST_API_KEYS. Without keys it refuses to listen beyond
127.0.0.1 unless `--insecure`. Logs go to stderr (JSON lines by default); the banner with the
URL and examples goes to stdout once the server listens.

SIGTERM / Ctrl-C: stop accepting, let running runs finish for `server.shutdown_grace` seconds,
cancel the rest (they end `run.failed`, code `interrupted`) while their streams are still open,
so that every stream ends with its terminal event; uvicorn waits `_STREAM_MARGIN` seconds more
for those streams before it cuts what is left. Close everything. A second Ctrl-C stops at
once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from agenthost.cli._common import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    load,
    print_error,
    stderr_console,
)
from agenthost.cli._options import Options
from agenthost.engine import gc_tuning

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from agenthost.config.schema import AgentHostConfig
    from agenthost.server.state import ServerState

_STREAM_MARGIN = 5  # seconds after the grace for the cancelled runs' last frames

# The cyclic garbage collector's thresholds in a server process. Almost everything a run makes
# is freed by reference counting, but with ~1,000 runs in flight the default (700, 10, 10)
# collects the young generation every 700 allocations and walks every object still in flight
# each time: 28 % of the server's CPU went to collections (py-spy --native, 1,000 concurrent
# runs, benchmarks/server.py). (100,000, 20, 10) took that to 2-3 young passes a 1,000-run
# burst, each walking ~100,000 live objects of the runs in flight and freeing none: 96 µs of
# CPU a run (`python -m benchmarks.profile_server --no-profile --gc 100000,20,10`, gc
# callbacks). With 400,000 a burst makes no pass at all. Cyclic garbage waits longer for its
# pass: the request paths make none (`_validation.drop_tracebacks` for the 400s), and RSS over
# 20,000 runs stays within the issue's 10 % (docs/benchmarks.md, "Server CPU per run
# (session 7)").
GC_THRESHOLDS = (400_000, 20, 10)

log = logging.getLogger("agenthost.cli")


def _server(app: FastAPI, *, host: str, port: int, grace: float) -> uvicorn.Server:
    """uvicorn, printing the banner once it listens and refusing new runs on SIGTERM."""
    import uvicorn

    from agenthost.server._http_limits import limited_protocol
    from agenthost.server.banner import agent_models, startup_banner

    state: ServerState = app.state.agenthost
    settings = state.settings

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.should_exit or not self.servers:
                return
            bound = self.servers[0].sockets[0].getsockname()
            banner = startup_banner(
                host=host,
                port=bound[1],
                agents=state.agent_names(),
                auth=bool(state.settings.api_keys),
                page_path=state.page_path,
                models=agent_models(state.runners),
            )
            sys.stdout.write(banner)
            sys.stdout.flush()

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if state.ready:
                # new runs get 503 from now on; runs still going after the grace are cancelled
                # while their streams are open, so every stream ends with a terminal event
                state.runs.request_shutdown(grace)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        lifespan="on",
        # the grace, then time for the cancelled runs' terminal events to reach their streams
        timeout_graceful_shutdown=math.ceil(grace) + _STREAM_MARGIN,
        server_header=False,
        # off unless its records would be written: uvicorn formats an access record (client
        # address, quoted path) for every response, before the logger drops it
        access_log=logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO),
        http=limited_protocol(
            max_headers=settings.max_headers, max_header_bytes=settings.max_header_bytes
        ),
    )
    return Server(config)


async def _check_store(config: AgentHostConfig) -> None:
    """Open the store once before listening: a damaged or unreadable database is then one
    clear error line and exit code 2, not a traceback from the app's start-up."""
    from agenthost.config.build import open_store

    async with open_store(config) as store:
        check = getattr(store, "check", None)
        if check is not None:
            await check()


def serve(
    options: Options,
    *,
    host: str | None,
    port: int | None,
    insecure: bool,
    log_format: Literal["json", "text"],
    log_level: str,
    channels: bool = True,
) -> int:
    from agenthost.core.errors import (
        AgentHostError,
        ConfigError,
        MissingExtraError,
        StoreError,
        UserError,
    )

    err = stderr_console()
    try:
        try:
            import uvicorn  # noqa: F401 - only to name the extra when it is missing

            from agenthost.server.app import create_app
            from agenthost.server.auth import ApiKeys, check_bind
            from agenthost.server.logs import setup_logging
        except ModuleNotFoundError as exc:
            raise MissingExtraError("agenthost serve", "server", exc.name or "fastapi") from exc
        config = load(options)
        host = host if host is not None else config.server.host
        port = port if port is not None else config.server.port
        keys = ApiKeys.from_sources(config.server.api_keys, os.environ)
        check_bind(host, keys, insecure=insecure)
        asyncio.run(_check_store(config))
    except AgentHostError as exc:
        print_error(err, exc)
        usage = isinstance(exc, ConfigError | UserError | StoreError)  # fix it, then start
        return EXIT_USAGE if usage else EXIT_RUN_FAILED

    setup_logging(log_level, log_format)
    gc_tuning.tune(GC_THRESHOLDS)  # AGENTHOST_GC=default leaves the collector alone
    hooks: dict[str, Any] = {}
    if config.channels is not None and channels:  # the channels in this process too
        from agenthost.server.channels import ServedChannels

        served = ServedChannels(
            config.channels, config.channels.agent or config.default_agent_name()
        )
        hooks = {"on_startup": [served.start], "on_shutdown": [served.stop]}
    app = create_app(config, api_keys=keys, insecure=insecure, **hooks)  # warns without a key
    server = _server(app, host=host, port=port, grace=config.server.shutdown_grace)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits with 3 when the app failed to start
        return int(exc.code or 0) and EXIT_RUN_FAILED
    return EXIT_OK if server.started else EXIT_RUN_FAILED
