"""PluginAgent: an agent in another process, speaking agent protocol v1 over JSON-RPC.

`PluginAgent(command=[sys.executable, "my_plugin.py"])` starts the process on the first run
(stdio), `PluginAgent(url="http://127.0.0.1:8765/rpc")` talks to a plugin served over HTTP.
On start it sends `initialize` and refuses (ConfigError) a plugin whose protocol version is
not "1" or whose manifest asks for permissions beyond `allowed_permissions`.

Each run sends `agent.run` with the RunContext and yields the plugin's `agent.result`s. The
plugin's `host.*` requests are answered through the real HostAPI of that run (so the host
authorizes them against that run's resources, and refusals come back as error responses
while the run goes on), each in its own task so a slow tool does not hold up the others.

A run ends with `run.failed` when the plugin crashes (`plugin.crashed`), says nothing for
longer than `timeout` (`plugin.timeout`), or sends a malformed frame
(`plugin.protocol_error`); other runs on a still-healthy plugin go on, and a dead plugin is
started again on the next run. Cancelling the run (or passing its deadline) sends
`agent.cancel`, which cancels the plugin's task for that run.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from agenthost.backends.plugins._http import HttpConnection
from agenthost.backends.plugins._process import ProcessConnection
from agenthost.backends.plugins._serve import serve_host_call
from agenthost.core.errors import ConfigError, PluginError
from agenthost.engine.fanout import FanOut
from agenthost.engine.shown import Shown
from agenthost.ports import wire
from agenthost.ports.protocol import (
    PROTOCOL_VERSION,
    HostAPI,
    Manifest,
    Permissions,
    ResultBatch,
    RunContext,
    RunFailed,
    batch_ends_run,
)

log = logging.getLogger("agenthost.plugins")

Connection = ProcessConnection | HttpConnection


class _Versions(msgspec.Struct):
    """The part of an initialize result read before the rest (a future protocol version may
    shape the manifest differently)."""

    protocol_version: str = ""
    manifest: dict[str, Any] = msgspec.field(default_factory=dict)


def excess_permissions(asked: Permissions, allowed: Permissions) -> list[str]:
    """The permissions in `asked` that `allowed` does not give, e.g. ['tools', 'state: app']."""
    out = [
        flag
        for flag in ("models", "tools", "knowledge_bases", "storage", "artifacts", "memory")
        if getattr(asked, flag) and not getattr(allowed, flag)
    ]
    for group in ("history", "events", "state"):
        extra = [v for v in getattr(asked, group) if v not in getattr(allowed, group)]
        if extra:
            out.append(f"{group}: {', '.join(extra)}")
    return out


def _host_version() -> str:
    try:
        return importlib.metadata.version("agenthost")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return ""


def _default_name(command: Sequence[str] | None, url: str | None) -> str:
    if url is not None:
        return urlsplit(url).netloc or url
    assert command
    script = next((c for c in reversed(command) if c.endswith((".py", ".js", ".ts"))), command[0])
    return Path(script).stem


class PluginAgent:
    """An agent served by another process (see the module docstring).

    - `command` (+ `env`, `cwd`): start it as a subprocess speaking on stdio. It does not
      inherit the host's environment (API keys stay here) except PATH, HOME, locale, TMPDIR,
      PYTHONPATH and VIRTUAL_ENV; `env` adds to that, `inherit_env=True` passes everything.
    - `url` (+ `headers`): a plugin served over HTTP (`agenthost.plugin.serve_http`).
    - `allowed_permissions`: the most the plugin may ask for in its manifest (default:
      nothing beyond the run's input). Before the plugin has started, the agent's manifest
      carries these permissions, so a Runner grants runs what they allow.
    - `timeout`: seconds a run may take in the plugin (None: only the run's deadline).
    - `start_timeout`: seconds to wait for the answer to `initialize`.
    """

    def __init__(
        self,
        command: Sequence[str] | None = None,
        *,
        url: str | None = None,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        inherit_env: bool = False,
        headers: Mapping[str, str] | None = None,
        allowed_permissions: Permissions | None = None,
        timeout: float | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        if (command is None) == (url is None):
            raise ConfigError(
                "PluginAgent needs either command=[...] (a plugin process on stdio) or "
                "url='http://...' (a plugin served over HTTP), and not both."
            )
        if command is not None and (isinstance(command, str) or not command):
            raise ConfigError(
                f"PluginAgent command must be a non-empty list of arguments, e.g. "
                f"[sys.executable, 'plugin.py'], got {command!r}."
            )
        self.command = list(command) if command is not None else None
        self.url = url
        self.name = name or _default_name(command, url)
        self.env = env
        self.cwd = cwd
        self.inherit_env = inherit_env
        self.headers = headers
        self.allowed_permissions = allowed_permissions or Permissions()
        self.timeout = timeout
        self.start_timeout = start_timeout
        self._declared: Manifest | None = None
        self._provisional = Manifest(
            id=f"plugin:{self.name}",
            name=self.name,
            description=f"Plugin agent {self.name}",
            permissions=self.allowed_permissions,
        )
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        where = f"url={self.url!r}" if self.url else f"command={self.command!r}"
        return f"PluginAgent({where}, name={self.name!r})"

    @property
    def manifest(self) -> Manifest:
        """The plugin's own manifest once it has started; until then one with the allowed
        permissions."""
        return self._declared or self._provisional

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Manifest:
        """Start (or reach) the plugin now and return its manifest; ConfigError if refused."""
        await self._connect()
        assert self._declared is not None
        return self._declared

    async def __aenter__(self) -> PluginAgent:
        return self  # the plugin starts on the first run (or `start()`)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Shut the plugin down (the process is stopped; an HTTP plugin keeps running)."""
        async with self._lock:
            if self._conn is not None:
                await self._conn.aclose()
                self._conn = None

    async def _connect(self) -> Connection:
        async with self._lock:
            conn = self._conn
            if conn is not None and conn.alive:
                return conn
            if conn is not None:
                log.info("plugin %s is gone; starting it again", self.name)
                self._conn = None
                await conn.aclose()
            conn = self._new_connection()
            try:
                await conn.start()
                self._declared = await self._initialize(conn)
            except BaseException:
                await conn.aclose()
                raise
            self._conn = conn
            return conn

    def _new_connection(self) -> Connection:
        if self.url is not None:
            return HttpConnection(self.url, name=self.name, headers=self.headers)
        assert self.command is not None
        return ProcessConnection(
            self.command, name=self.name, env=self.env, cwd=self.cwd, inherit_env=self.inherit_env
        )

    async def _initialize(self, conn: Connection) -> Manifest:
        params = wire.InitializeParams(
            protocol_version=PROTOCOL_VERSION,
            host=wire.HostInfo(name="agenthost", version=_host_version()),
        )
        frame = await conn.request("initialize", params, timeout=self.start_timeout)
        if not isinstance(frame.error, msgspec.UnsetType):
            raise PluginError(
                "plugin.protocol_error",
                f"it refused initialize: {frame.error.message}",
                plugin=self.name,
            )
        try:
            versions = wire.decode_result(frame, _Versions)
        except wire.ProtocolError as exc:
            raise PluginError("plugin.protocol_error", str(exc), plugin=self.name) from exc
        spoken = {versions.protocol_version, versions.manifest.get("protocol_version", "1")}
        if spoken != {PROTOCOL_VERSION}:
            raise ConfigError(
                f"Plugin {self.name!r} speaks agent protocol {sorted(spoken)}, but this host "
                f"speaks {PROTOCOL_VERSION!r}. Use a plugin (or SDK) built for protocol "
                f"{PROTOCOL_VERSION!r}."
            )
        try:
            manifest: Manifest = wire.decode_result(frame, wire.InitializeResult).manifest
        except wire.ProtocolError as exc:
            raise PluginError(
                "plugin.protocol_error", f"its manifest is malformed: {exc}", plugin=self.name
            ) from exc
        extra = excess_permissions(manifest.permissions, self.allowed_permissions)
        if extra:
            raise ConfigError(
                f"Plugin {self.name!r} ({manifest.id}) asks for permissions this host does not "
                f"allow: {'; '.join(extra)}. If you trust it, allow them with "
                f"PluginAgent(..., allowed_permissions=Permissions(...))."
            )
        log.info("plugin %s is %s (%s)", self.name, manifest.id, manifest.name)
        return manifest

    # ---- running --------------------------------------------------------------------------

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        """The plugin's results; when it fails after streaming text (a crash, a timeout), the
        text shown so far is kept as a message marked incomplete before the failure."""
        shown = Shown()
        try:
            async with aclosing(self._run(ctx, host)) as results:
                async for batch in results:
                    shown.note(batch)
                    yield batch
        except PluginError as exc:
            cut = shown.cut_off()
            if cut is None:
                raise
            yield [cut, RunFailed(error=exc.message, code=exc.code, retryable=exc.retryable)]

    async def _run(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        conn = await self._connect()
        permissions = self.manifest.permissions
        channel: Any = await conn.open_run(ctx)
        finished = False
        deadline = (
            asyncio.get_running_loop().time() + self.timeout if self.timeout is not None else None
        )
        expected = 1
        try:
            async with FanOut() as calls:
                while not finished:
                    frame = await self._next(channel, deadline)
                    if frame.is_request:
                        call = serve_host_call(
                            frame,
                            host=host,
                            run_id=ctx.run_id,
                            permissions=permissions,
                            plugin=self.name,
                            reply=conn.send,
                        )
                        calls.start(call, name=f"{self.name} {frame.method}")
                        continue
                    if frame.is_response:
                        finished = True
                        final = self._final(frame)
                        if final is not None:
                            yield final
                        break
                    params = self._result(frame)
                    if params.sequence < expected:
                        continue  # a duplicate
                    if params.sequence > expected:
                        raise PluginError(
                            "plugin.protocol_error",
                            f"result {params.sequence} of run {ctx.run_id} came after "
                            f"{expected - 1}: results were lost",
                            plugin=self.name,
                        )
                    expected += 1
                    if params.result == []:
                        continue  # only result types this host does not know
                    finished = batch_ends_run(params.result)
                    yield params.result
                calls.cancel_all()  # the run is over: host calls still going are moot
        finally:
            await conn.end_run(ctx.run_id, channel, cancel=not finished)

    async def _next(self, channel: Any, deadline: float | None) -> wire.Frame:
        if deadline is None:
            frame: wire.Frame = await channel.get()
            return frame
        try:
            async with asyncio.timeout_at(deadline):
                frame = await channel.get()
                return frame
        except TimeoutError:
            raise PluginError(
                "plugin.timeout",
                f"the run took longer than its {self.timeout}s timeout",
                plugin=self.name,
            ) from None

    def _result(self, frame: wire.Frame) -> wire.ResultParams:
        if frame.method != "agent.result":  # pragma: no cover - the connection routes only these
            raise PluginError(
                "plugin.protocol_error", f"unexpected {frame.method}", plugin=self.name
            )
        try:
            params = wire.decode_results(frame)
        except wire.ProtocolError as exc:
            raise PluginError("plugin.protocol_error", f"it sent {exc}", plugin=self.name) from exc
        return params

    def _final(self, frame: wire.Frame) -> RunFailed | None:
        """The run.failed the agent.run response stands for, if any (no terminal result came)."""
        if not isinstance(frame.error, msgspec.UnsetType):
            raise PluginError(
                "plugin.protocol_error",
                f"it refused the run: {frame.error.message}",
                plugin=self.name,
            )
        try:
            done: wire.RunDone = wire.decode_result(frame, wire.RunDone)
        except wire.ProtocolError as exc:
            raise PluginError("plugin.protocol_error", str(exc), plugin=self.name) from exc
        if done.status == "failed":
            return RunFailed(error=f"plugin {self.name!r} reported the run failed")
        if done.status == "cancelled":
            return RunFailed(error=f"plugin {self.name!r} cancelled the run", code="cancelled")
        return None
