"""The host's end of a plugin subprocess on stdio.

One reader task reads the plugin's stdout and routes each frame: a response to the request it
answers (`initialize`, `agent.run`, ...), an `agent.result` or `host.*` request to the queue
of the run it names. Another task forwards the plugin's stderr to the log and keeps its tail
for crash reports. A crash report sent to a run quotes that tail only when the process has
served no other run: stderr cannot be attributed to runs, and another run's output may be
another user's. Both tasks are owned by the connection and awaited when it closes.

A frame that cannot be attributed to a run (not JSON, not JSON-RPC) breaks the connection:
every run on it fails with `plugin.protocol_error` and the process is stopped (the next run
starts a new one). When the process exits, every run on it fails with `plugin.crashed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from agenthost.core.errors import ConfigError, HostAPIError, PluginError, PluginErrorCode
from agenthost.ports import wire
from agenthost.ports.protocol import RunContext

log = logging.getLogger("agenthost.plugins")

# what a plugin process inherits from the host's environment (API keys stay in the host)
SAFE_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "SYSTEMROOT",
)

Item = wire.Frame | PluginError


class RunQueue:
    """The frames of one run, as the reader routes them (or the error that ended them)."""

    __slots__ = ("queue",)

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue()

    async def get(self) -> wire.Frame:
        item = await self.queue.get()
        if isinstance(item, PluginError):
            raise item
        return item


class ProcessConnection:
    """A plugin subprocess speaking JSON-RPC on stdio; one per PluginAgent at a time."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        name: str,
        env: Mapping[str, str] | None,
        cwd: str | Path | None,
        inherit_env: bool,
    ) -> None:
        self.command = list(command)
        self.name = name
        base = (
            dict(os.environ)
            if inherit_env
            else {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
        )
        self.env = {**base, **(env or {})}
        self.cwd = cwd
        self.alive = False
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ids = itertools.count(1)
        self._waiting: dict[wire.Id, asyncio.Future[wire.Frame]] = {}
        self._run_requests: dict[wire.Id, str] = {}  # agent.run request id -> run id
        self._runs: dict[str, RunQueue] = {}
        self._stderr: deque[str] = deque(maxlen=20)
        self._served = 0  # runs this process was given; its stderr is theirs only if one
        self._write_lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ---- starting -------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                limit=wire.MAX_FRAME_BYTES,
            )
        except OSError as exc:
            raise ConfigError(
                f"Cannot start plugin {self.name!r} with command {self.command}: {exc}. "
                f"Check the command and cwd."
            ) from exc
        self.alive = True
        log.info("started plugin %s (pid %s): %s", self.name, self._proc.pid, self.command)
        self._tasks = [
            asyncio.create_task(self._read_stdout(), name=f"plugin {self.name} stdout"),
            asyncio.create_task(self._read_stderr(), name=f"plugin {self.name} stderr"),
        ]

    # ---- sending --------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        """Write one frame (ignored once the process is gone: its runs have failed already)."""
        proc = self._proc
        if not self.alive or proc is None or proc.stdin is None:
            return
        proc.stdin.write(data)
        try:
            async with self._write_lock:
                await proc.stdin.drain()
        except (ConnectionError, RuntimeError):
            pass  # the reader sees the exit and fails the runs

    def send_nowait(self, data: bytes) -> None:
        proc = self._proc
        if self.alive and proc is not None and proc.stdin is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                proc.stdin.write(data)

    async def request(self, method: str, params: Any, *, timeout: float) -> wire.Frame:
        """Send a request and wait for its response (PluginError on crash or timeout)."""
        request_id = next(self._ids)
        future: asyncio.Future[wire.Frame] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await self.send(wire.request(request_id, method, params))
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise PluginError(
                "plugin.timeout", f"no answer to {method} within {timeout}s", plugin=self.name
            ) from None
        finally:
            self._waiting.pop(request_id, None)

    # ---- runs -----------------------------------------------------------------------------

    async def open_run(self, ctx: RunContext) -> RunQueue:
        if not self.alive:
            raise self._gone_error()
        run = self._runs[ctx.run_id] = RunQueue()
        self._served += 1
        request_id = next(self._ids)
        self._run_requests[request_id] = ctx.run_id
        # no await between registering and sending: a cancel here cannot leave the run behind
        self.send_nowait(wire.request(request_id, "agent.run", wire.RunParams(context=ctx)))
        return run

    async def end_run(self, run_id: str, run: RunQueue, *, cancel: bool) -> None:
        """Stop routing frames to the run; `cancel` also sends `agent.cancel` (no wait)."""
        self._runs.pop(run_id, None)
        for request_id, rid in list(self._run_requests.items()):
            if rid == run_id:
                del self._run_requests[request_id]
        if cancel:  # its response, like any answer nobody waits for, is dropped
            self.send_nowait(
                wire.request(next(self._ids), "agent.cancel", wire.RunRef(run_id=run_id))
            )

    # ---- reading --------------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        while True:
            try:
                line = await stdout.readline()
            except ValueError:
                self._break("a frame longer than the limit")
                return
            if not line:
                break
            if not line.strip():
                continue
            try:
                frame = wire.decode_frame(line)
            except wire.ProtocolError as exc:
                self._break(f"{exc} (line: {line[:200]!r})")
                return
            self._route(frame)
        code = await self._proc.wait()
        if len(self._tasks) > 1:  # let the stderr reader reach the end (bounded)
            await asyncio.wait([self._tasks[1]], timeout=1.0)
        self._fail_all(
            "plugin.crashed",
            f"the plugin process exited with code {code}{self._stderr_tail()}{self._import_hint()}",
        )

    def _route(self, frame: wire.Frame) -> None:
        if frame.is_response:
            self._on_response(frame)
        elif frame.is_notification:
            if frame.method == "agent.result":
                self._to_run(frame)
            else:
                log.debug("plugin %s sent notification %s; ignored", self.name, frame.method)
        elif frame.is_request:
            assert isinstance(frame.method, str)
            if frame.method.startswith("host."):
                self._to_run(frame)
            else:
                error = wire.RpcError(
                    code=wire.METHOD_NOT_FOUND, message=f"the host has no method {frame.method!r}"
                )
                self.send_nowait(wire.error_response(_id(frame), error))
        else:
            self._break("a message that is neither request, notification nor response")

    def _on_response(self, frame: wire.Frame) -> None:
        request_id = _id(frame)
        if request_id is None:
            log.warning("plugin %s reports an error: %s", self.name, frame.error)
            return
        future = self._waiting.get(request_id)
        if future is not None:
            if not future.done():
                future.set_result(frame)
            return
        run_id = self._run_requests.pop(request_id, None)
        run = self._runs.get(run_id) if run_id is not None else None
        if run is not None:
            run.queue.put_nowait(frame)

    def _to_run(self, frame: wire.Frame) -> None:
        try:
            run_id = wire.decode_params(frame, wire.RunRef).run_id
        except wire.ProtocolError as exc:
            if frame.is_request:
                error = wire.RpcError(code=wire.INVALID_PARAMS, message=str(exc))
                self.send_nowait(wire.error_response(_id(frame), error))
                return
            self._break(f"an agent.result without a run id: {exc}")
            return
        run = self._runs.get(run_id)
        if run is not None:
            run.queue.put_nowait(frame)
        elif frame.is_request:  # a run that has ended (or never was) gets nothing
            refusal = wire.host_error(_not_active(run_id))
            self.send_nowait(wire.error_response(_id(frame), refusal))

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        stderr = self._proc.stderr
        while True:
            try:
                line = await stderr.readline()
            except ValueError:
                continue
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            self._stderr.append(text)
            log.info("[plugin %s] %s", self.name, text)

    # ---- failing and stopping -------------------------------------------------------------

    def _stderr_tail(self) -> str:
        """The stderr tail for a crash report: only when every line can be the failing run's
        own (the process served one run), else a pointer to the host's log."""
        if not self._stderr:
            return ""
        if self._served > 1:
            return "; its stderr is in the host's log (agenthost.plugins)"
        return "; its last stderr lines: " + " | ".join(self._stderr)

    def _import_hint(self) -> str:
        """What to do when the plugin's Python could not import a module (the usual cause: the
        command's `python3` is the first on PATH, not the virtualenv agenthost runs in)."""
        if not any("ModuleNotFoundError: No module named" in line for line in self._stderr):
            return ""
        return (
            f". The plugin's interpreter ({self.command[0]!r}) lacks a module it imports: start "
            f"it with the Python agenthost runs in ({sys.executable}), activate that "
            f"virtualenv, or install the module where the plugin runs"
        )

    def _gone_error(self) -> PluginError:
        return PluginError("plugin.crashed", "the plugin process is not running", plugin=self.name)

    def _break(self, detail: str) -> None:
        log.error("plugin %s broke the protocol: %s; stopping it", self.name, detail)
        self._fail_all("plugin.protocol_error", f"it sent {detail}")
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()

    def _fail_all(self, code: PluginErrorCode, message: str, *, quiet: bool = False) -> None:
        if not self.alive:
            return
        self.alive = False
        if not quiet or self._runs:
            log.warning("plugin %s: %s", self.name, message)
        error = PluginError(code, message, plugin=self.name)
        for run in self._runs.values():
            run.queue.put_nowait(error)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)

    async def aclose(self, *, grace: float = 2.0) -> None:
        """Ask the plugin to shut down, then stop the process (terminate, then kill)."""
        proc = self._proc
        if proc is None:
            return
        if self.alive and proc.returncode is None:
            with contextlib.suppress(PluginError):
                await self.request("shutdown", None, timeout=grace)
        self._fail_all("plugin.crashed", "the plugin agent was closed", quiet=True)
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            async with asyncio.timeout(grace):
                await proc.wait()
        except TimeoutError:
            proc.terminate()
            try:
                async with asyncio.timeout(grace):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


def _id(frame: wire.Frame) -> wire.Id | None:
    return None if isinstance(frame.id, msgspec.UnsetType) else frame.id


def _not_active(run_id: str) -> HostAPIError:
    return HostAPIError("unauthorized", f"Run {run_id!r} is not active on this plugin.")
