"""What the remote-platform agents (Dify, Coze, Bailian) share.

A platform agent sends the user's message to a platform whose own loop thinks and acts, reads
the platform's event stream, and maps it to agent-protocol results. The parts that are the same
for every platform live here, in `PlatformAgent`:

- settings from the constructor or the environment (`setting`), a missing key is a ConfigError
  naming the variable;
- one pooled aiohttp client (`backends.common.http`), created lazily inside the running loop
  and closed by `aclose()` only when the agent created it;
- timeouts: `connect_timeout` (TCP connect), `idle_timeout` (waiting for the response head and
  between two chunks of the stream) and `timeout` (the whole turn); each wraps one await, never
  a `yield`, so a timeout never fires in the consumer's code;
- errors: every failure is a `PlatformError` (code, message with the platform's own code and a
  hint, retryable), yielded as `RunFailed` by `run()`:

      platform.http_error     the platform answered HTTP >= 400 (or a JSON error instead of a
                              stream); retryable on 408, 409, 429 and 5xx
      platform.error          the platform reported an error inside the stream
      platform.timeout        no answer, or a silent stream, within the timeouts (retryable)
      platform.unavailable    cannot connect (retryable)
      platform.bad_response   the stream broke off, ended early or is not JSON (retryable)

- the conversation handle (Dify/Coze `conversation_id`, Bailian `session_id`) kept in session
  state under `state_key` (default `<name>.<handle>`), read at the start of a turn and written
  with a `StateUpdated` result as soon as the platform names a new one;
- cancellation: when a turn ends before the platform finished (the runner cancelled the pending
  await, the caller went away, a timeout), the turn's `finally` calls the platform's stop
  endpoint (`_stop_request`) in a task of its own, shielded and bounded by `stop_timeout`, so a
  second cancellation cannot cut it short; `aclose()` waits for stops still running.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, NoReturn, Self

import aiohttp
import orjson

from agenthost.backends.common.http import make_http_client
from agenthost.backends.common.sse import ServerSentEvent, SSEDecoder
from agenthost.core.errors import ConfigError, RunError
from agenthost.core.messages import Message, Part, TextPart
from agenthost.ports.protocol import (
    Attachment,
    Capabilities,
    HostAPI,
    Manifest,
    Permissions,
    ResultBatch,
    RunContext,
    RunFailed,
    RunResult,
    StateUpdated,
)

log = logging.getLogger("agenthost.agents")

HTTP_ERROR = "platform.http_error"
PLATFORM_ERROR = "platform.error"
TIMEOUT = "platform.timeout"
UNAVAILABLE = "platform.unavailable"
BAD_RESPONSE = "platform.bad_response"

DRAIN_SECONDS = 1.0  # how long to read the rest of a finished stream so its connection is reused
_ERROR_BODY_LIMIT = 64 * 1024


def setting(value: str | None, env: str, default: str | None = None) -> str | None:
    """`value` when given, else the environment variable `env`, else `default`."""
    if value:
        return value
    return os.environ.get(env) or default


def require(value: str | None, *, env: str, param: str, platform: str) -> str:
    """`setting(value, env)`, or a ConfigError that names the parameter and the variable."""
    found = setting(value, env)
    if not found:
        raise ConfigError(
            f"{platform} agent needs {param}: pass {param}=... or set the environment "
            f"variable {env}."
        )
    return found


def retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def json_text(value: Any) -> str:
    """`value` as JSON text for ToolCallStarted.parameters: a string that is JSON is kept as
    it is, other text becomes {"input": text}, nothing becomes {}."""
    if value is None or value == "":
        return "{}"
    if isinstance(value, str):
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError:
            return orjson.dumps({"input": value}).decode()
        return value
    return orjson.dumps(value).decode()


def plain_text(value: Any) -> str:
    """A tool result or other payload as text."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def merged(base: Mapping[str, Any], extra: Any) -> dict[str, Any]:
    """`base` updated with `extra` when that is a mapping (per-run values from ctx.config)."""
    out = dict(base)
    if isinstance(extra, Mapping):
        out.update(extra)
    return out


def attachment_urls(
    ctx: RunContext, kinds: Sequence[str] = ("image", "file", "audio", "video")
) -> list[Attachment]:
    """The input's attachments that a platform can fetch by URL."""
    return [a for a in ctx.input.attachments if a.url and a.type in kinds]


def assistant_message(text: str, extra: Sequence[Part] = ()) -> Message:
    parts: tuple[Part, ...] = ((TextPart(text=text),) if text else ()) + tuple(extra)
    return Message(role="assistant", parts=parts)


class PlatformError(RunError):
    """A platform call failed; `run()` turns it into `RunFailed(code, retryable)`.

    (Kept next to the platform agents until core/errors.py grows an equivalent.)"""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retryable: bool,
        status: int | None = None,
        platform_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.status = status
        self.platform_code = platform_code

    def result(self) -> RunFailed:
        return RunFailed(error=self.message, code=self.code, retryable=self.retryable)


@dataclass(slots=True)
class Turn:
    """What one run learns from the platform while it streams."""

    handle: str | None  # the conversation handle at the start (None: a new conversation)
    task_id: str | None = None  # what the stop endpoint needs (Dify task_id, Coze chat_id)
    done: bool = False  # the platform finished (well or not): nothing to stop
    stream_over: bool = False  # this response's stream has nothing more for us
    text: list[str] = field(default_factory=list)
    final: list[RunResult] = field(default_factory=list)

    def finish(self, *results: RunResult) -> None:
        self.done = self.stream_over = True
        self.final = list(results)


@dataclass(frozen=True, slots=True)
class StopRequest:
    url: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None


class PlatformAgent:
    """Base of the remote-platform agents; see the module docstring for what it provides.

    Subclasses set the class variables and implement `_turn` (one run, an async generator of
    results), `_on_event` (one SSE event -> results), `_http_error` (an error response ->
    PlatformError) and, when the platform has one, `_stop_request`.
    """

    platform: ClassVar[str]  # "Dify"
    kind: ClassVar[str]  # "dify": the manifest id's prefix
    key_env: ClassVar[str]  # "DIFY_API_KEY": where the key comes from when not given
    handle_name: ClassVar[str] = "conversation_id"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, stateful_session=True, interrupt=True, multimodal_input=True
    )
    permissions: ClassVar[Permissions] = Permissions(state=["session"])

    def __init__(
        self,
        *,
        name: str,
        api_key: str,
        base_url: str,
        description: str,
        timeout: float | None,
        connect_timeout: float | None,
        idle_timeout: float | None,
        stop_timeout: float,
        client: aiohttp.ClientSession | None,
        state_key: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        for label, value in (
            ("timeout", timeout),
            ("connect_timeout", connect_timeout),
            ("idle_timeout", idle_timeout),
            ("stop_timeout", stop_timeout),
        ):
            if value is not None and value <= 0:
                raise ConfigError(f"{self.platform} agent: {label} must be > 0, got {value!r}")
        self.name = name
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.stop_timeout = stop_timeout
        self.state_key = state_key or f"{name}.{self.handle_name}".replace(":", "_")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            **(headers or {}),
        }
        self._request_timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        self._client = client
        self._owns_client = client is None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._stops: set[asyncio.Task[None]] = set()
        self._manifest = Manifest(
            id=f"agenthost:{self.kind}/{name}",
            name=name,
            description=description or f"An agent that runs on {self.platform}.",
            capabilities=self.capabilities,
            permissions=self.permissions,
        )

    def __repr__(self) -> str:
        key = self.api_key[:4] + "***" if self.api_key else "None"
        return (
            f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, "
            f"api_key={key!r})"
        )

    # ---- resources ------------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    @property
    def client(self) -> aiohttp.ClientSession:
        """The pooled client, created on first use inside the running loop."""
        loop = asyncio.get_running_loop()
        client = self._client
        if client is None or (self._owns_client and self._client_loop is not loop):
            client = self._client = make_http_client(connect_timeout=self.connect_timeout)
            self._client_loop = loop
        return client

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Wait for stop calls still running, then close the client if this agent made it."""
        if self._stops:
            await asyncio.gather(*self._stops, return_exceptions=True)
        if not self._owns_client or self._client is None:
            return
        client, self._client = self._client, None
        if self._client_loop is asyncio.get_running_loop():  # a dead loop's client is dropped
            await client.close()

    # ---- the run --------------------------------------------------------------------------

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        try:
            async with aclosing(self._turn(ctx, host)) as turn:
                async for batch in turn:
                    yield batch
        except PlatformError as exc:
            log.warning(
                "%s agent %r failed in run %s: %s", self.platform, self.name, ctx.run_id, exc
            )
            yield exc.result()

    def _turn(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        raise NotImplementedError

    def _on_event(self, event: ServerSentEvent, turn: Any) -> list[RunResult]:
        raise NotImplementedError

    def _http_error(self, status: int, body: bytes) -> PlatformError:
        raise NotImplementedError

    def _stop_request(self, turn: Any) -> StopRequest | None:
        """The call that stops the platform's work on `turn` (None: the platform has none)."""
        return None

    def _stale_handle(self, error: PlatformError) -> bool:
        """True when `error` says the stored conversation handle is unknown to the platform."""
        return False

    # ---- conversation handle in session state ----------------------------------------------

    async def _load_handle(self, host: HostAPI) -> str | None:
        value = await host.state.get("session", self.state_key)
        return value if isinstance(value, str) and value else None

    def _remember(self, turn: Turn, value: Any) -> list[RunResult]:
        """A StateUpdated result when the platform named a handle we have not stored yet."""
        if not isinstance(value, str) or not value or value == turn.handle:
            return []
        turn.handle = value
        return [StateUpdated(scope="session", key=self.state_key, value=value)]

    async def _start(
        self, turn: Turn, send: Callable[[str | None], Awaitable[aiohttp.ClientResponse]]
    ) -> tuple[aiohttp.ClientResponse, list[RunResult]]:
        """Send the turn with the stored handle; when the platform no longer knows it, forget
        it and start a new conversation (once). Returns the response and a state result."""
        try:
            return await send(turn.handle), []
        except PlatformError as exc:
            if turn.handle is None or not self._stale_handle(exc):
                raise
            log.info(
                "%s no longer knows %s %s; starting a new one",
                self.platform,
                self.handle_name,
                turn.handle,
            )
        turn.handle = None
        response = await send(None)
        return response, [StateUpdated(scope="session", key=self.state_key, value=None)]

    # ---- HTTP -----------------------------------------------------------------------------

    def _deadline(self) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() + self.timeout if self.timeout is not None else float("inf")

    def _limit(self, deadline: float) -> float | None:
        """When the next await must be done: the idle timeout, capped by the turn's deadline."""
        now = asyncio.get_running_loop().time()
        limit = deadline if self.idle_timeout is None else min(deadline, now + self.idle_timeout)
        return None if limit == float("inf") else limit

    def _timed_out(self, deadline: float, what: str) -> PlatformError:
        if asyncio.get_running_loop().time() >= deadline:
            detail = f"did not finish within {self.timeout}s (timeout)"
        else:
            detail = f"{what} for {self.idle_timeout}s (idle_timeout)"
        return PlatformError(
            f"{self.platform} {detail}. Raise the timeout or check the app on {self.base_url}.",
            code=TIMEOUT,
            retryable=True,
        )

    async def _post(
        self,
        url: str,
        body: Mapping[str, Any],
        *,
        deadline: float,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """POST JSON and return a response whose event stream is ready to read; every failure
        becomes a PlatformError."""
        request_headers = {**self._headers, **headers} if headers else self._headers
        try:
            async with asyncio.timeout_at(self._limit(deadline)):
                response = await self.client.post(
                    url,
                    data=orjson.dumps(body),
                    params=params,
                    headers=request_headers,
                    timeout=self._request_timeout,
                )
        except aiohttp.ServerTimeoutError as exc:  # connecting took too long
            raise PlatformError(
                f"Cannot reach {self.platform} at {self.base_url}: {describe(exc)}. Check the "
                f"base_url and the network (connect_timeout is {self.connect_timeout}s).",
                code=UNAVAILABLE,
                retryable=True,
            ) from exc
        except TimeoutError as exc:
            raise self._timed_out(deadline, "did not answer") from exc
        except aiohttp.ClientError as exc:
            raise PlatformError(
                f"Cannot reach {self.platform} at {self.base_url}: {describe(exc)}. Check the "
                f"base_url and that the service is up.",
                code=UNAVAILABLE,
                retryable=True,
            ) from exc
        if response.status < 400 and "event-stream" in response.content_type:
            return response
        try:
            async with asyncio.timeout_at(self._limit(deadline)):
                payload = await response.content.read(_ERROR_BODY_LIMIT)
        except (TimeoutError, aiohttp.ClientError):
            payload = b""
        finally:
            response.release()
        raise self._http_error(response.status, payload)

    async def _consume(
        self, response: aiohttp.ClientResponse, turn: Turn, deadline: float
    ) -> AsyncGenerator[list[RunResult], None]:
        """Map each event of one response stream with `_on_event` until `turn.stream_over`."""
        decoder = SSEDecoder()
        content = response.content
        over = False
        try:
            while not over:
                try:
                    async with asyncio.timeout_at(self._limit(deadline)):
                        chunk = await content.readany()
                except TimeoutError as exc:
                    raise self._timed_out(deadline, "sent nothing") from exc
                except aiohttp.ClientError as exc:
                    self._broken(f"the stream broke off: {describe(exc)}", exc)
                if not chunk:
                    raise self._incomplete(turn)
                for event in decoder.feed(chunk):
                    results = self._on_event(event, turn)
                    if results:
                        yield results
                    over = turn.stream_over
                    if over:
                        break
            await self._drain(content)
        finally:
            close(response, turn)

    def _incomplete(self, turn: Any) -> PlatformError:
        """The error for a stream that ended before the platform finished the turn."""
        return PlatformError(
            f"{self.platform}: the stream ended before the reply was finished. Try again; if "
            f"it persists, check the app's logs.",
            code=BAD_RESPONSE,
            retryable=True,
        )

    def _broken(self, detail: str, exc: BaseException | None = None) -> NoReturn:
        raise PlatformError(
            f"{self.platform}: {detail}. Try again; if it persists, check the app's logs.",
            code=BAD_RESPONSE,
            retryable=True,
        ) from exc

    @staticmethod
    async def _drain(content: aiohttp.StreamReader) -> None:
        """Read what is left of a finished stream (usually nothing) so the connection can go
        back to the pool; give up quietly after DRAIN_SECONDS."""
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                while await content.readany():
                    pass
        except (TimeoutError, aiohttp.ClientError):
            pass

    def _decode(self, event: ServerSentEvent) -> dict[str, Any]:
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            self._broken(f"an event is not JSON: {event.data[:200]!r}", exc)
        if not isinstance(data, dict):
            self._broken(f"an event is not a JSON object: {event.data[:200]!r}")
        return data

    # ---- stopping -------------------------------------------------------------------------

    async def _stop_if_running(self, turn: Turn) -> None:
        """Called from each turn's `finally`: stop the platform's work if it is not done."""
        if turn.done:
            return
        request = self._stop_request(turn)
        if request is None:
            return
        task = asyncio.create_task(self._stop(request))
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)
        # shielded: a second cancellation of this task leaves the stop call running (bounded
        # by stop_timeout); aclose() waits for it
        await asyncio.shield(task)

    async def _stop(self, request: StopRequest) -> None:
        try:
            async with asyncio.timeout(self.stop_timeout):
                async with self.client.post(
                    request.url,
                    data=orjson.dumps(dict(request.body or {})),
                    params=request.params,
                    headers=self._headers,
                    timeout=self._request_timeout,
                ) as response:
                    answer = await response.read()
            if response.status >= 400:
                log.warning(
                    "%s stop call %s answered HTTP %s: %s",
                    self.platform,
                    request.url,
                    response.status,
                    answer[:300].decode(errors="replace"),
                )
            else:
                log.info("%s stop call %s: HTTP %s", self.platform, request.url, response.status)
        except Exception as exc:  # a failed stop is logged; the run ends as it would anyway
            log.warning("%s stop call %s failed: %s", self.platform, request.url, describe(exc))


def close(response: aiohttp.ClientResponse, turn: Turn) -> None:
    """Give a finished stream's connection back to the pool; close an unfinished one (the
    platform sees the connection drop: for DashScope, which has no stop endpoint, that is
    the cancel)."""
    if turn.stream_over:
        response.release()
    else:
        response.close()


def error_fields(body: bytes) -> dict[str, Any]:
    """The JSON object of an error body ({} when it is not one), for `_http_error`."""
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def body_text(body: bytes) -> str:
    text = body.decode(errors="replace").strip()
    return text[:500] if text else "(empty body)"
