"""The plugin's side of the protocol, whatever carries the frames (stdio or HTTP).

`Endpoint` answers the host's requests (`initialize`, `agent.cancel`, `shutdown`), runs
`agent.run` requests (`run`), and matches the host's answers to the plugin's own host API
calls. Many runs go on at once: each is a task, and frames are matched by id.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from agenthost.core.errors import AgentHostError
from agenthost.plugin._proxy import HostProxy, StreamQueue, closed_error
from agenthost.ports import wire
from agenthost.ports.protocol import (
    PROTOCOL_VERSION,
    Agent,
    ResultBatch,
    RunCompleted,
    RunFailed,
)

log = logging.getLogger("agenthost.plugin")

Send = Callable[[bytes], object]


class Endpoint:
    def __init__(self, agent: Agent) -> None:
        if not isinstance(agent, Agent):
            raise TypeError(f"{agent!r} is not an agent: it needs `manifest` and `run(ctx, host)`")
        self.agent = agent
        self.manifest = agent.manifest
        self.shutdown_requested = asyncio.Event()
        self._runs: dict[str, asyncio.Task[Any]] = {}
        self._pending: dict[wire.Id, asyncio.Future[wire.Frame]] = {}
        self._streams: dict[wire.Id, StreamQueue] = {}
        self._ids = itertools.count(1)
        self._closed = False

    # ---- the plugin's calls to the host ---------------------------------------------------

    def expect_response(self) -> tuple[int, asyncio.Future[wire.Frame]]:
        if self._closed:
            raise closed_error()
        request_id = next(self._ids)
        future: asyncio.Future[wire.Frame] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return request_id, future

    def expect_stream(self) -> tuple[int, StreamQueue]:
        if self._closed:
            raise closed_error()
        request_id = next(self._ids)
        queue: StreamQueue = asyncio.Queue()
        self._streams[request_id] = queue
        return request_id, queue

    def forget(self, request_id: wire.Id) -> None:
        self._pending.pop(request_id, None)
        self._streams.pop(request_id, None)

    # ---- frames from the host -------------------------------------------------------------

    def answer(self, frame: wire.Frame, send: Send) -> None:
        """Handle any frame but an `agent.run` request (see `run`)."""
        if frame.is_response:
            self._on_response(frame)
        elif frame.is_notification:
            if frame.method == "host.stream_event":
                self._on_stream_event(frame)
        elif frame.is_request:
            send(self._request(frame))
        else:
            send(
                wire.error_response(
                    None, wire.RpcError(code=wire.INVALID_REQUEST, message="not a request")
                )
            )

    def _request(self, frame: wire.Frame) -> bytes:
        assert not isinstance(frame.id, msgspec.UnsetType)
        method = frame.method
        if method == "initialize":
            params = _params(frame, wire.InitializeParams)
            if isinstance(params, bytes):
                return params
            if params.protocol_version != PROTOCOL_VERSION:
                log.warning(
                    "host speaks protocol %r; this plugin speaks %r",
                    params.protocol_version,
                    PROTOCOL_VERSION,
                )
            result = wire.InitializeResult(
                protocol_version=PROTOCOL_VERSION, manifest=self.manifest
            )
            return wire.response(frame.id, result)
        if method == "agent.cancel":
            ref = _params(frame, wire.RunRef)
            if isinstance(ref, bytes):
                return ref
            task = self._runs.get(ref.run_id)
            if task is not None:
                task.cancel()
            return wire.response(frame.id, wire.CancelResult(cancelled=task is not None))
        if method == "shutdown":
            self.shutdown_requested.set()
            return wire.response(frame.id, None)
        return wire.error_response(
            frame.id,
            wire.RpcError(code=wire.METHOD_NOT_FOUND, message=f"unknown method {method!r}"),
        )

    def _on_response(self, frame: wire.Frame) -> None:
        assert not isinstance(frame.id, msgspec.UnsetType) and frame.id is not None
        future = self._pending.get(frame.id)
        if future is not None:
            if not future.done():
                future.set_result(frame)
            return
        queue = self._streams.get(frame.id)
        if queue is not None:
            queue.put_nowait(frame)
            return
        log.debug("answer to an unknown or abandoned request %r", frame.id)

    def _on_stream_event(self, frame: wire.Frame) -> None:
        try:
            params = wire.decode_params(frame, wire.StreamEventParams)
        except wire.ProtocolError as exc:
            log.warning("bad host.stream_event: %s", exc)
            return
        queue = self._streams.get(params.request_id)
        if queue is not None:
            queue.put_nowait(params.event)

    # ---- runs -----------------------------------------------------------------------------

    async def run(self, frame: wire.Frame, send: Send) -> None:
        """Run the agent for one `agent.run` request: an `agent.result` notification per
        result, then the response. Never raises but CancelledError (after it has answered)."""
        assert not isinstance(frame.id, msgspec.UnsetType)
        request_id = frame.id
        params = _params(frame, wire.RunParams)
        if isinstance(params, bytes):
            send(params)
            return
        ctx = params.context
        run_id = ctx.run_id
        task = asyncio.current_task()
        if run_id in self._runs or task is None:
            error = wire.RpcError(code=wire.INVALID_PARAMS, message=f"run {run_id} is active")
            send(wire.error_response(request_id, error))
            return
        self._runs[run_id] = task
        sent = 0
        status: Any = "completed"

        def emit(item: ResultBatch) -> None:
            nonlocal sent
            body = {"run_id": run_id, "sequence": sent + 1, "result": item}
            send(wire.notification("agent.result", body))
            sent += 1

        try:
            results = self.agent.run(ctx, HostProxy(self, run_id, send))
            try:
                async for item in results:
                    emit(item)
                    ended = _terminal(item)
                    if ended is not None:
                        status = ended
                        break
            finally:
                await _aclose(results)
        except asyncio.CancelledError:
            send(
                wire.response(
                    request_id, wire.RunDone(run_id=run_id, status="cancelled", results=sent)
                )
            )
            raise
        except Exception as exc:
            if not isinstance(exc, AgentHostError):
                log.exception("run %s failed", run_id)
            emit(_failure(exc))
            status = "failed"
        finally:
            del self._runs[run_id]
        send(wire.response(request_id, wire.RunDone(run_id=run_id, status=status, results=sent)))

    @property
    def active_runs(self) -> list[str]:
        return list(self._runs)

    def close(self) -> None:
        """The host is gone: cancel every run and fail every call waiting for an answer."""
        self._closed = True
        for task in self._runs.values():
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(closed_error())
        gone = wire.RpcError(
            code=wire.HOST_ERROR_CODES["runtime_error"], message=closed_error().message
        )
        for queue in self._streams.values():
            queue.put_nowait(wire.Frame(jsonrpc="2.0", id=0, error=gone))


def _params(frame: wire.Frame, type_: type[Any]) -> Any:
    """The decoded params, or the error response to send (bytes)."""
    try:
        return wire.decode_params(frame, type_)
    except wire.ProtocolError as exc:
        error = wire.RpcError(code=wire.INVALID_PARAMS, message=str(exc))
        return wire.error_response(
            None if isinstance(frame.id, msgspec.UnsetType) else frame.id, error
        )


def _terminal(item: ResultBatch) -> str | None:
    for result in item if isinstance(item, list) else (item,):
        if type(result) is RunCompleted:
            return "completed"
        if type(result) is RunFailed:
            return "failed"
    return None


def _failure(exc: Exception) -> RunFailed:
    if isinstance(exc, AgentHostError):
        return RunFailed(error=exc.message, code=exc.code, retryable=exc.retryable)
    return RunFailed(error=f"{type(exc).__name__}: {exc}", code="runner.error")


async def _aclose(results: AsyncIterator[ResultBatch]) -> None:
    close = getattr(results, "aclose", None)
    if close is not None:
        await close()
