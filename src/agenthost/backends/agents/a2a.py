"""A remote A2A (Agent2Agent) agent as one of our agents, over the official `a2a-sdk` client.

    agent = A2AAgent(card_url="https://agents.example.com", api_key="...")
    runner = Runner(agent, store=store)

`card_url` is the agent card's URL, or the agent's base URL (the card is then read from
`<base>/.well-known/agent-card.json`). The card is fetched once (on the first run) and the
SDK's client picks the interface (JSON-RPC or HTTP+JSON, A2A 1.0 or 0.3). Each run sends the
user's message with SendStreamingMessage (`message/stream` on 0.3; a blocking SendMessage
when the card says the agent does not stream) and maps what comes back:

    Task, status SUBMITTED / WORKING     nothing shown; the remote task id and contextId are
                                         noted
    artifact update (text)               MessageDelta: the new text of the artifact
    artifact update (files, data)        images and files (by URL or bytes) and JSON text of
                                         the final message
    status COMPLETED                     MessageCompleted (the artifacts, else the status
                                         message; usage from agenthost servers' metadata),
                                         RunCompleted
    a Message instead of a task          MessageCompleted, RunCompleted
    status INPUT_REQUIRED, AUTH_REQUIRED the status message as the reply, RunCompleted
                                         (finish_reason input_required / auth_required); the
                                         session's next message goes to that task
    status FAILED, REJECTED              RunFailed `platform.error` (retryable when the remote
                                         says so in the status message's metadata, as
                                         agenthost servers do)
    status CANCELED (not by us)          RunFailed `platform.error`

A stream that ends before the task does is followed by polling GetTask until the deadline.
The remote contextId is kept in session state (`<name>.context_id`): one of our sessions is
one remote conversation. When our run is cancelled (runner.cancel, the caller going away, a
timeout) before the remote task ended, CancelTask (`tasks/cancel`) is sent in a task of its
own, shielded from a second cancellation and bounded by `cancel_timeout`.

Errors end the run with RunFailed, with the codes of the platform agents (`_platform.py`):
`platform.unavailable` (cannot connect: retryable), `platform.timeout` (retryable),
`platform.http_error` (HTTP >= 400; retryable on 408, 409, 429, 5xx), `platform.error` (the
remote's JSON-RPC error or a failed task), `platform.bad_response` (a broken stream, or a card
that is not one).

Needs the `a2a` extra (`pip install 'agenthost[a2a]'`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

try:
    import httpx
    from a2a.client import A2AClientError, A2AClientTimeoutError, Client, ClientConfig
    from a2a.client import ClientFactory as _ClientFactory
    from a2a.client.card_resolver import parse_agent_card
    from a2a.types import (
        AgentCard,
        CancelTaskRequest,
        GetTaskRequest,
        Message,
        Part,
        Role,
        SendMessageRequest,
        StreamResponse,
        Task,
        TaskState,
        TaskStatus,
    )
    from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH, TransportProtocol
    from a2a.utils.errors import A2AError, TaskNotCancelableError
    from google.protobuf import json_format
    from google.protobuf.struct_pb2 import Struct
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installed extras
    from agenthost.core.errors import MissingExtraError

    raise MissingExtraError("The A2A agent", "a2a", exc.name or "a2a") from exc

import orjson

from agenthost.backends.agents._platform import (
    BAD_RESPONSE,
    HTTP_ERROR,
    PLATFORM_ERROR,
    TIMEOUT,
    UNAVAILABLE,
    PlatformError,
    PlatformSettings,
    Turn,
    assistant_message,
    describe,
    retryable_status,
    run_with_retries,
)
from agenthost.backends.agents._timeouts import TurnTimeouts
from agenthost.backends.common.http import parse_retry_after
from agenthost.backends.common.lifecycle import Closing
from agenthost.backends.common.propagation import httpx_event_hooks
from agenthost.core import messages as ours
from agenthost.core.errors import ConfigError
from agenthost.core.ids import new_id
from agenthost.core.usage import Usage
from agenthost.ports.protocol import (
    Capabilities,
    HostAPI,
    Manifest,
    MessageCompleted,
    MessageDelta,
    Permissions,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunResult,
    StateUpdated,
)

log = logging.getLogger("agenthost.agents.a2a")

POLL_INTERVAL = (0.2, 2.0)  # GetTask polling: first and longest wait, seconds
_ERROR_BODY = 500
_INTERRUPTED = {
    TaskState.TASK_STATE_INPUT_REQUIRED: "input_required",
    TaskState.TASK_STATE_AUTH_REQUIRED: "auth_required",
}
_FAILED = (TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_REJECTED)


@dataclass(slots=True)
class _Artifact:
    text: list[str] = field(default_factory=list)
    files: list[ours.Part] = field(default_factory=list)


@dataclass(slots=True)
class _A2ATurn(Turn):
    """`handle` is the remote contextId; `task_id` the remote task."""

    pending: str | None = None  # a remote task waiting for input, continued by this turn
    artifacts: dict[str, _Artifact] = field(default_factory=dict)


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _dict(struct: Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct) if struct.fields else {}


def _usage(metadata: Struct) -> Usage | None:
    """Usage an agenthost server puts in a terminal status's metadata."""
    raw = _dict(metadata).get("agenthost", {})
    usage = raw.get("usage") if isinstance(raw, dict) else None
    if not isinstance(usage, dict):
        return None
    try:
        return Usage(
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            requests=int(usage.get("requests") or 0),
            cost=float(usage.get("cost") or 0.0),
        )
    except (TypeError, ValueError):
        return None


def _their_part(part: ours.Part) -> Part | None:
    if isinstance(part, ours.TextPart):
        return Part(text=part.text) if part.text else None
    if isinstance(part, ours.ImagePart | ours.FilePart):
        name = (part.name if isinstance(part, ours.FilePart) else None) or ""
        if part.url:
            return Part(url=part.url, media_type=part.mime_type, filename=name)
        if part.data is not None:
            return Part(raw=part.data, media_type=part.mime_type, filename=name)
    return None


def _our_parts(parts: Any) -> tuple[list[str], list[ours.Part]]:
    """The text (JSON text for data parts) and the images/files of A2A parts."""
    texts: list[str] = []
    files: list[ours.Part] = []
    for part in parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
        elif kind == "data":
            texts.append(orjson.dumps(json_format.MessageToDict(part.data)).decode())
        elif kind in ("url", "raw"):
            url = part.url if kind == "url" else None
            data = part.raw if kind == "raw" else None
            media = part.media_type
            if media.startswith("image/"):
                files.append(ours.ImagePart(url=url, data=data, mime_type=media))
            else:
                files.append(
                    ours.FilePart(
                        url=url,
                        data=data,
                        mime_type=media or "application/octet-stream",
                        name=part.filename or None,
                    )
                )
    return texts, files


class A2AAgent(TurnTimeouts, Closing):
    """A remote A2A agent (see the module doc).

    `api_key` is sent as `Authorization: Bearer <key>`; `headers` are added to every request
    (the card's too). Timeouts in seconds: `connect_timeout` to connect, `idle_timeout` for the
    first byte and between two chunks of the stream, `timeout` for the whole turn,
    `cancel_timeout` for the CancelTask call. `http_client` shares your own httpx client (its
    headers and timeouts are then yours; it is not closed here).
    """

    platform: ClassVar[str] = "A2A"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, stateful_session=True, interrupt=True, multimodal_input=True
    )

    def __init__(
        self,
        *,
        card_url: str,
        name: str = "a2a",
        description: str = "",
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 300.0,
        connect_timeout: float | None = 10.0,
        idle_timeout: float | None = 120.0,
        cancel_timeout: float = 5.0,
        retries: int = 2,
        max_retry_after: float = 30.0,
        state_key: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if not card_url or not card_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"A2A agent {name!r}: card_url must be an http(s) URL of the agent card or of "
                f"the agent, got {card_url!r}"
            )
        self.settings = PlatformSettings(
            timeout=timeout,
            connect_timeout=connect_timeout,
            idle_timeout=idle_timeout,
            stop_timeout=cancel_timeout,
            retries=retries,
            max_retry_after=max_retry_after,
        )
        self.settings.check(f"A2A agent {name!r}")
        self.name = name
        self.card_url = card_url
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.cancel_timeout = cancel_timeout
        self.state_key = state_key or f"{name}.context_id".replace(":", "_")
        self.task_key = self.state_key.removesuffix(".context_id") + ".task_id"
        self._api_key = api_key
        self._headers = {**({"Authorization": f"Bearer {api_key}"} if api_key else {})}
        self._headers.update(headers or {})
        self._http = http_client
        self._owns_http = http_client is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._remote: Client | None = None
        self.card: AgentCard | None = None  # the remote's card, once fetched
        self._cancels: set[asyncio.Task[None]] = set()
        self._manifest = Manifest(
            id=f"agenthost:a2a/{name}",
            name=name,
            description=description or f"A remote A2A agent ({card_url}).",
            capabilities=self.capabilities,
            permissions=Permissions(state=["session"]),
        )

    def __repr__(self) -> str:
        key = self._api_key[:4] + "***" if self._api_key else "None"
        return f"A2AAgent(name={self.name!r}, card_url={self.card_url!r}, api_key={key!r})"

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    # ---- resources ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Wait for cancel calls still running, then close the HTTP client if it is ours."""
        if self._cancels:
            await asyncio.gather(*self._cancels, return_exceptions=True)
        remote, self._remote = self._remote, None
        if remote is not None:
            await remote.close()  # the transport; the shared httpx client is closed below
        if not self._owns_http or self._http is None:
            return
        http, self._http = self._http, None
        if self._loop is asyncio.get_running_loop():  # a dead loop's client is dropped
            await http.aclose()

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                headers=self._headers,
                timeout=httpx.Timeout(self.idle_timeout, connect=self.connect_timeout),
                follow_redirects=True,
                event_hooks=httpx_event_hooks(),  # `traceparent` on every request, when tracing
            )
        return self._http

    async def _client(self, deadline: float) -> Client:
        """The SDK client for the remote's card (fetched once per event loop, and again after
        the remote was unreachable). Two first runs at once may both read the card; the last
        client wins, the other is dropped (they share the HTTP client, nothing leaks)."""
        loop = asyncio.get_running_loop()
        if self._remote is not None and self._loop is loop:
            return self._remote
        if self._loop is not loop:
            self._remote = None
            if self._owns_http:
                self._http = None  # bound to the old loop: dropped, not closed
        self._loop = loop
        http = self._http_client()
        card = await self._fetch_card(http, deadline)
        config = ClientConfig(
            streaming=True,
            httpx_client=http,
            supported_protocol_bindings=[
                TransportProtocol.JSONRPC.value,
                TransportProtocol.HTTP_JSON.value,
            ],
        )
        try:
            remote = _ClientFactory(config).create(card)
        except ValueError as exc:
            offered = ", ".join(
                f"{i.protocol_binding} {i.protocol_version or '?'} at {i.url}"
                for i in card.supported_interfaces
            )
            raise PlatformError(
                f"A2A agent {card.name!r} offers no interface this client speaks (JSON-RPC or "
                f"HTTP+JSON): {offered or 'none'}.",
                code=BAD_RESPONSE,
                retryable=False,
            ) from exc
        self.card, self._remote = card, remote
        return remote

    def card_location(self) -> str:
        if self.card_url.split("?", 1)[0].endswith(".json"):
            return self.card_url
        return self.card_url.rstrip("/") + AGENT_CARD_WELL_KNOWN_PATH

    async def _fetch_card(self, http: httpx.AsyncClient, deadline: float) -> AgentCard:
        url = self.card_location()
        try:
            async with asyncio.timeout_at(self._limit(deadline)):
                response = await http.get(url)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise PlatformError(
                f"The A2A agent card at {url} did not come within the timeouts. Check card_url "
                f"and that the agent is up.",
                code=TIMEOUT,
                retryable=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise PlatformError(
                f"Cannot reach the A2A agent at {url}: {describe(exc)}. Check card_url and "
                f"that the agent is up.",
                code=UNAVAILABLE,
                retryable=True,
            ) from exc
        if response.status_code >= 400:
            raise PlatformError(
                f"Fetching the A2A agent card {url} answered HTTP {response.status_code}: "
                f"{response.text[:_ERROR_BODY] or '(empty)'}. Check card_url (the card's URL, "
                f"or the agent's base URL){self._auth_hint(response.status_code)}.",
                code=HTTP_ERROR,
                retryable=retryable_status(response.status_code),
                status=response.status_code,
            )
        try:
            return parse_agent_card(response.json())
        except (ValueError, json_format.ParseError) as exc:
            raise PlatformError(
                f"{url} is not an A2A agent card: {exc}. Check card_url.",
                code=BAD_RESPONSE,
                retryable=False,
            ) from exc

    @staticmethod
    def _auth_hint(status: int) -> str:
        if status in (401, 403):
            return "; the agent wants credentials: check api_key / headers"
        return ""

    # ---- timeouts --------------------------------------------------------------------------

    def _timed_out(self, deadline: float) -> PlatformError:
        detail = self._timeout_detail(deadline, "sent nothing")
        return PlatformError(
            f"The A2A agent at {self.card_url} {detail}. Raise the timeout or check the agent.",
            code=TIMEOUT,
            retryable=True,
        )

    # ---- the run ----------------------------------------------------------------------------

    def run(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        return run_with_retries(
            lambda: self._turn(ctx, host),
            backoff=self.settings.backoff,
            who=f"A2A agent {self.name!r}",
            run_id=ctx.run_id,
            on_failure=self._forget_remote,
        )

    def _forget_remote(self, exc: PlatformError) -> None:
        if exc.code == UNAVAILABLE or exc.status == 404:
            self._remote = None  # it may have moved: read the card again next time

    async def _turn(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        deadline = self._deadline()
        remote = await self._client(deadline)
        turn = _A2ATurn(
            handle=await self._state(host, self.state_key),
            pending=await self._state(host, self.task_key),
        )
        if turn.pending is not None:  # sent now; set again if the remote asks once more
            yield [StateUpdated(scope="session", key=self.task_key, value=None)]
        request = SendMessageRequest(message=self._message(ctx, turn))
        stream = cast(AsyncGenerator[StreamResponse, None], remote.send_message(request))
        try:
            while not turn.done:
                try:
                    async with asyncio.timeout_at(self._limit(deadline)):
                        response = await anext(stream)
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    raise self._timed_out(deadline) from exc
                except (A2AError, json_format.ParseError) as exc:
                    raise self._error(exc) from exc
                results = self._on_response(response, turn)
                if results:
                    yield results
            if not turn.done:
                results = await self._poll(remote, turn, deadline)
                if results:
                    yield results
        finally:
            try:
                await stream.aclose()
            except Exception as exc:  # closing a broken stream must not hide the real error
                log.debug("closing the A2A stream failed: %s", describe(exc))
            await self._cancel_if_running(remote, turn)
        yield turn.final

    @staticmethod
    async def _state(host: HostAPI, key: str) -> str | None:
        value = await host.state.get("session", key)
        return value if isinstance(value, str) and value else None

    def _message(self, ctx: RunContext, turn: _A2ATurn) -> Message:
        source = ctx.input.message
        parts = [p for p in (_their_part(x) for x in (source.parts if source else ())) if p]
        if not parts:
            parts = [Part(text=ctx.input.text)]
        return Message(
            message_id=new_id(),
            role=Role.ROLE_USER,
            parts=parts,
            context_id=turn.handle or "",
            task_id=turn.pending or "",
        )

    async def _poll(self, remote: Client, turn: _A2ATurn, deadline: float) -> list[RunResult]:
        """The stream ended before the task: ask for it until it ends (or the deadline)."""
        if not turn.task_id:
            raise PlatformError(
                f"The A2A agent at {self.card_url} ended its stream without a task or a reply.",
                code=BAD_RESPONSE,
                retryable=True,
            )
        wait = POLL_INTERVAL[0]
        while True:
            try:
                async with asyncio.timeout_at(self._limit(deadline)):
                    task = await remote.get_task(GetTaskRequest(id=turn.task_id))
            except TimeoutError as exc:
                raise self._timed_out(deadline) from exc
            except (A2AError, json_format.ParseError) as exc:
                raise self._error(exc) from exc
            results = self._on_task(task, turn)
            if turn.done:
                return results
            if asyncio.get_running_loop().time() + wait >= deadline:
                raise self._timed_out(deadline)
            await asyncio.sleep(wait)
            wait = min(wait * 2, POLL_INTERVAL[1])

    # ---- mapping what comes back ------------------------------------------------------------

    def _on_response(self, response: StreamResponse, turn: _A2ATurn) -> list[RunResult]:
        kind = response.WhichOneof("payload")
        if kind == "task":
            return self._on_task(response.task, turn)
        if kind == "message":
            message = response.message
            out = self._note(turn, message.task_id, message.context_id)
            texts, files = _our_parts(message.parts)
            turn.finish(
                *out,
                MessageCompleted(message=assistant_message("".join(texts), files)),
                RunCompleted(),
            )
            return []
        if kind == "status_update":
            status = response.status_update
            out = self._note(turn, status.task_id, status.context_id)
            return out + self._on_status(status.status, status.metadata, turn)
        if kind == "artifact_update":
            chunk = response.artifact_update
            out = self._note(turn, chunk.task_id, chunk.context_id)
            artifact = chunk.artifact
            return out + self._on_artifact(artifact.artifact_id, artifact.parts, chunk.append, turn)
        return []

    def _on_task(self, task: Task, turn: _A2ATurn) -> list[RunResult]:
        out = self._note(turn, task.id, task.context_id)
        for artifact in task.artifacts:  # a whole task (blocking send, polling): no deltas
            texts, files = _our_parts(artifact.parts)
            turn.artifacts[artifact.artifact_id] = _Artifact(texts, files)
        return out + self._on_status(task.status, task.metadata, turn)

    def _note(self, turn: _A2ATurn, task_id: str, context_id: str) -> list[RunResult]:
        """Note the remote task; a StateUpdated when the remote names a new context."""
        if task_id:
            turn.task_id = task_id
        if not context_id or context_id == turn.handle:
            return []
        turn.handle = context_id
        return [StateUpdated(scope="session", key=self.state_key, value=context_id)]

    def _on_artifact(
        self, artifact_id: str, parts: Any, append: bool, turn: _A2ATurn
    ) -> list[RunResult]:
        texts, files = _our_parts(parts)
        text = "".join(texts)
        entry = turn.artifacts.get(artifact_id)
        if entry is not None and append:
            delta = text
        else:  # a new artifact, or new content for one: show only what extends the old text
            old = "".join(entry.text) if entry is not None else ""
            delta = text[len(old) :] if text.startswith(old) else ""
            if (
                entry is None
                and text
                and any(a.text and "".join(a.text) for a in turn.artifacts.values())
            ):
                delta = "\n\n" + delta
            entry = turn.artifacts[artifact_id] = _Artifact()
        entry.text.extend(texts)
        entry.files.extend(files)
        return [MessageDelta(text=delta)] if delta else []

    def _on_status(self, status: TaskStatus, metadata: Struct, turn: _A2ATurn) -> list[RunResult]:
        state = status.state
        if state == TaskState.TASK_STATE_COMPLETED:
            turn.finish(
                MessageCompleted(message=self._answer(turn, status), usage=_usage(metadata)),
                RunCompleted(),
            )
        elif state in _INTERRUPTED:
            asked = StateUpdated(scope="session", key=self.task_key, value=turn.task_id)
            turn.finish(
                asked,
                MessageCompleted(message=self._answer(turn, status, prefer_status=True)),
                RunCompleted(finish_reason=_INTERRUPTED[state]),
            )
        elif state in _FAILED or state == TaskState.TASK_STATE_CANCELED:
            turn.done = turn.stream_over = True
            raise self._failed(status, turn)
        return []

    @staticmethod
    def _answer(turn: _A2ATurn, status: TaskStatus, *, prefer_status: bool = False) -> ours.Message:
        said, said_files = (
            _our_parts(status.message.parts) if status.HasField("message") else ([], [])
        )
        texts = ["".join(a.text) for a in turn.artifacts.values() if "".join(a.text)]
        files = [f for a in turn.artifacts.values() for f in a.files]
        if (prefer_status and (said or said_files)) or not (texts or files):
            return assistant_message("".join(said), said_files)
        return assistant_message("\n\n".join(texts), files)

    def _failed(self, status: TaskStatus, turn: _A2ATurn) -> PlatformError:
        message = status.message if status.HasField("message") else None
        said = "".join(_our_parts(message.parts)[0]) if message is not None else ""
        details = _dict(message.metadata) if message is not None else {}
        who = f"The A2A agent {self.card.name!r}" if self.card is not None else "The A2A agent"
        if status.state == TaskState.TASK_STATE_CANCELED:
            what = "cancelled the task"
        elif status.state == TaskState.TASK_STATE_REJECTED:
            what = "rejected the task"
        else:
            what = "failed the task"
        code = details.get("code")
        label = f" ({code})" if isinstance(code, str) and code else ""
        return PlatformError(
            f"{who} {what}{label}: {said or 'no reason given'}",
            code=PLATFORM_ERROR,
            retryable=_bool(details.get("retryable")),
            platform_code=code if isinstance(code, str) else None,
        )

    # ---- errors and cancellation --------------------------------------------------------------

    def _error(self, exc: Exception) -> PlatformError:
        """An SDK client error as a PlatformError (the seam between their errors and ours)."""
        cause = exc.__cause__
        where = self.card_url
        if isinstance(exc, A2AClientTimeoutError) or isinstance(cause, httpx.TimeoutException):
            return PlatformError(
                f"The A2A agent at {where} did not answer within the timeouts ({describe(exc)}).",
                code=TIMEOUT,
                retryable=True,
            )
        if isinstance(cause, httpx.HTTPStatusError):
            status = cause.response.status_code
            try:
                body = cause.response.text[:_ERROR_BODY]
            except httpx.ResponseNotRead:
                body = ""
            return PlatformError(
                f"The A2A agent at {where} answered HTTP {status}: {body or '(empty)'}"
                f"{self._auth_hint(status)}.",
                code=HTTP_ERROR,
                retryable=retryable_status(status),
                status=status,
                retry_after=parse_retry_after(cause.response.headers),
            )
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout):
            return PlatformError(
                f"Cannot reach the A2A agent at {where}: {describe(cause)}. Check that it is up.",
                code=UNAVAILABLE,
                retryable=True,
            )
        if isinstance(exc, A2AClientError | json_format.ParseError):
            return PlatformError(
                f"The A2A agent at {where}: {exc}. Try again; if it persists, check the agent.",
                code=BAD_RESPONSE,
                retryable=True,
            )
        data = exc.data if isinstance(exc, A2AError) and isinstance(exc.data, dict) else {}
        message = exc.message if isinstance(exc, A2AError) else str(exc)
        return PlatformError(
            f"The A2A agent at {where} answered {type(exc).__name__}: {message}",
            code=PLATFORM_ERROR,
            retryable=_bool(data.get("retryable")),
            platform_code=type(exc).__name__,
        )

    async def _cancel_if_running(self, remote: Client, turn: _A2ATurn) -> None:
        """From the turn's `finally`: cancel the remote task if it has not ended."""
        if turn.done or not turn.task_id:
            return
        task = asyncio.create_task(self._cancel(remote, turn.task_id))
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)
        # shielded: a second cancellation of this task leaves the cancel call running (bounded
        # by cancel_timeout); aclose() waits for it
        await asyncio.shield(task)

    async def _cancel(self, remote: Client, task_id: str) -> None:
        try:
            async with asyncio.timeout(self.cancel_timeout):
                await remote.cancel_task(CancelTaskRequest(id=task_id))
            log.info("cancelled A2A task %s at %s", task_id, self.card_url)
        except TaskNotCancelableError:  # the remote says no: a refusal, as for the platforms
            log.warning(
                "the A2A agent at %s refused the stop request for task %s (TaskNotCancelable)",
                self.card_url,
                task_id,
            )
        except Exception as exc:  # a failed cancel is logged; our run ends as it would anyway
            log.warning("cancelling A2A task %s failed: %s", task_id, describe(exc))


__all__ = ["A2AAgent"]
