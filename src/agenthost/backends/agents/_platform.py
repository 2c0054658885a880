"""What the remote-platform agents (Dify, Coze, Bailian) share.

A platform agent sends the user's message to a platform whose own loop thinks and acts, reads
the platform's event stream, and maps it to agent-protocol results. The parts that are the same
for every platform live here, in `PlatformAgent`:

- one settings struct, `PlatformSettings` (timeouts, retries), built from the constructor's
  keyword arguments (`PlatformOptions`); provider-style settings (key, base URL, app/bot id)
  follow one precedence rule: argument (config passes its values as arguments), then the
  environment, then the default (`setting`); a missing key is a ConfigError naming the
  variable;
- one pooled aiohttp client (`backends.common.http`), created lazily inside the running loop
  and closed by `aclose()` only when the agent created it;
- timeouts: `connect_timeout` (TCP connect), `idle_timeout` (waiting for the response head and
  between two chunks of the stream) and `timeout` (the whole turn); each wraps one await, never
  a `yield`, so a timeout never fires in the consumer's code;
- retries (`run_with_retries`): a turn that fails with a "busy" error (HTTP 429 or 5xx, a
  platform's busy/rate-limit code, cannot connect) before anything was shown is tried again
  after a backoff that honours `Retry-After` (`backends.common.retry.Backoff`; `retries`
  more tries, 2 by default);
- a reply cut off mid-stream: the text already streamed is kept as a
  `MessageCompleted(incomplete=True)` before the run fails (the stored message carries
  `data.incomplete = true`);
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
  second cancellation cannot cut it short; `aclose()` waits for stops still running. A stop
  that the platform refuses (an HTTP error, or a failure inside a 200 answer as Coze sends
  them: `_stop_refusal`) is logged as refused, a successful one as done.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NoReturn, TypedDict, cast

import aiohttp
import orjson

from agenthost.backends.agents._timeouts import TurnTimeouts
from agenthost.backends.common.http import make_http_client, parse_retry_after
from agenthost.backends.common.lifecycle import Closing
from agenthost.backends.common.retry import Backoff
from agenthost.backends.common.sse import ServerSentEvent, SSEDecoder
from agenthost.core.errors import ConfigError, RunError
from agenthost.core.messages import Message, Part, TextPart
from agenthost.engine.shown import Shown
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

# the wait between two tries (a module attribute so that tests can record the waits)
pause: Callable[[float], Awaitable[None]] = asyncio.sleep
DRAIN_SECONDS = 1.0  # how long to read the rest of a finished stream so its connection is reused
_ERROR_BODY_LIMIT = 64 * 1024


class PlatformOptions(TypedDict, total=False):
    """The keyword arguments every platform agent takes (see `PlatformSettings`)."""

    timeout: float | None
    connect_timeout: float | None
    idle_timeout: float | None
    stop_timeout: float
    retries: int
    max_retry_after: float
    client: aiohttp.ClientSession | None
    state_key: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformSettings:
    """Timeouts (seconds; None = no limit) and retries of one platform agent.

    `connect_timeout`: TCP connect; `idle_timeout`: waiting for the response head and between
    two chunks of the stream; `timeout`: one whole try of a turn; `stop_timeout`: the stop
    (cancel) request; `retries`: more tries after a busy answer (0: none); `max_retry_after`:
    the longest `Retry-After` honoured (a longer one fails at once). Defaults: docs/defaults.md.
    """

    timeout: float | None = 300.0
    connect_timeout: float | None = 10.0
    idle_timeout: float | None = 60.0
    stop_timeout: float = 5.0
    retries: int = 2
    max_retry_after: float = 30.0

    def check(self, who: str) -> None:
        for label in ("timeout", "connect_timeout", "idle_timeout", "stop_timeout"):
            value = getattr(self, label)
            if value is not None and value <= 0:
                raise ConfigError(f"{who}: {label} must be > 0, got {value!r}")
        if self.retries < 0:
            raise ConfigError(f"{who}: retries must be >= 0, got {self.retries!r}")
        if self.max_retry_after < 0:
            raise ConfigError(f"{who}: max_retry_after must be >= 0, got {self.max_retry_after!r}")

    @property
    def backoff(self) -> Backoff:
        return Backoff(retries=self.retries, max_retry_after=self.max_retry_after)


def platform_settings(
    who: str, options: PlatformOptions, defaults: PlatformSettings | None = None
) -> PlatformSettings:
    """The settings from keyword arguments; an absent one takes the default (None given
    explicitly means no limit)."""
    base = defaults or PlatformSettings()
    chosen = PlatformSettings(
        timeout=options.get("timeout", base.timeout),
        connect_timeout=options.get("connect_timeout", base.connect_timeout),
        idle_timeout=options.get("idle_timeout", base.idle_timeout),
        stop_timeout=options.get("stop_timeout", base.stop_timeout),
        retries=options.get("retries", base.retries),
        max_retry_after=options.get("max_retry_after", base.max_retry_after),
    )
    chosen.check(who)
    return chosen


def setting(value: str | None, env: str, default: str | None = None) -> str | None:
    """The precedence rule of provider-style settings: `value` (an argument, or the config
    that passes it) when given, else the environment variable `env`, else `default`."""
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


# which of the run's ids a platform is given as its end user (Dify's and Coze's `user`)
UserFrom = Literal["user_id", "session_id"]


def checked_user_from(platform: str, user_from: str) -> UserFrom:
    """`user_from` if it is "user_id" or "session_id", else a ConfigError naming `platform`."""
    if user_from in ("user_id", "session_id"):
        return cast(UserFrom, user_from)
    raise ConfigError(
        f"{platform} agent: user_from must be 'user_id' or 'session_id', got {user_from!r}"
    )


def end_user(ctx: RunContext, user_from: UserFrom) -> str:
    """The id the platform is given as the run's end user."""
    return ctx.context.user_id if user_from == "user_id" else ctx.context.conversation_id


def retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def busy_status(status: int | None) -> bool:
    """HTTP answers worth trying again after a pause: 429 and 5xx."""
    return status is not None and (status == 429 or status >= 500)


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
        busy: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.status = status
        self.platform_code = platform_code
        # worth another try after a pause (429, 5xx, a busy code, cannot connect)
        self.busy = busy if busy is not None else (code == UNAVAILABLE or busy_status(status))
        self.retry_after = retry_after

    def result(self) -> RunFailed:
        return RunFailed(error=self.message, code=self.code, retryable=self.retryable)


async def run_with_retries(
    turn: Callable[[], AsyncGenerator[ResultBatch, None]],
    *,
    backoff: Backoff,
    who: str,
    run_id: str,
    on_failure: Callable[[PlatformError], None] | None = None,
) -> AsyncGenerator[ResultBatch, None]:
    """Run `turn()`; a busy failure before anything was shown is tried again after
    `backoff`'s pause. A final failure yields the text streamed so far as an incomplete
    message, then RunFailed."""
    attempt = 0
    while True:
        shown = Shown()
        try:
            async with aclosing(turn()) as results:
                async for batch in results:
                    shown.note(batch)
                    yield batch
            return
        except PlatformError as exc:
            wait = (
                None if shown.anything or not exc.busy else backoff.delay(attempt, exc.retry_after)
            )
            if wait is not None:
                log.info(
                    "%s failed in run %s (try %d of %d), trying again in %.2fs: %s",
                    who,
                    run_id,
                    attempt + 1,
                    backoff.retries + 1,
                    wait,
                    exc,
                )
                await pause(wait)
                attempt += 1
                continue
            log.warning("%s failed in run %s: %s", who, run_id, exc)
            if on_failure is not None:
                on_failure(exc)
            partial = shown.cut_off()
            yield [partial, exc.result()] if partial is not None else exc.result()
            return


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


class PlatformAgent(TurnTimeouts, Closing):
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

    defaults: ClassVar[PlatformSettings] = PlatformSettings()

    def __init__(
        self,
        *,
        name: str,
        api_key: str,
        base_url: str,
        description: str,
        options: PlatformOptions,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings = platform_settings(
            f"{self.platform} agent {name!r}", options, self.defaults
        )
        timeout, connect_timeout = settings.timeout, settings.connect_timeout
        idle_timeout, stop_timeout = settings.idle_timeout, settings.stop_timeout
        client, state_key = options.get("client"), options.get("state_key")
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

    def run(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        return run_with_retries(
            lambda: self._turn(ctx, host),
            backoff=self.settings.backoff,
            who=f"{self.platform} agent {self.name!r}",
            run_id=ctx.run_id,
        )

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

    def _timed_out(self, deadline: float, what: str) -> PlatformError:
        detail = self._timeout_detail(deadline, what)
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
        error = self._http_error(response.status, payload)
        error.retry_after = parse_retry_after(response.headers)
        raise error

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
        except Exception as exc:  # a failed stop is logged; the run ends as it would anyway
            log.warning("%s stop request %s failed: %s", self.platform, request.url, describe(exc))
            return
        refusal = self._stop_refusal(response.status, answer)
        if refusal is not None:
            log.warning("%s refused the stop request %s: %s", self.platform, request.url, refusal)
        else:
            log.info(
                "%s stopped the work (%s: HTTP %s)", self.platform, request.url, response.status
            )

    def _stop_refusal(self, status: int, body: bytes) -> str | None:
        """Why the platform refused a stop request, from its answer (None: it stopped)."""
        if status >= 400:
            return f"HTTP {status}: {body_text(body)}"
        return None


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
