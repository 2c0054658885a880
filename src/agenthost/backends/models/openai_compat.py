"""`OpenAICompatibleModel`: the chat-completions wire API over one provider's pooled client.

One code path for streamed and whole answers, over the provider's transport (the lean
HTTP/1.1 client or aiohttp: `backends/common/transport.py`).

Serves OpenAI, DeepSeek, DashScope (compatible mode), OpenRouter, Groq, Together, vLLM,
Ollama and llama.cpp servers alike: where it connects is the `Provider`'s business.

Errors are translated here, each raised `from` the original:

    HTTP status >= 400                      ModelHTTPError (Retry-After parsed)
    the deadline passed                     ModelTimeout (ModelSettings.timeout or the
                                            provider's timeout: the whole call; the
                                            provider's idle_timeout: a streamed answer silent
                                            that long, before its head or between chunks)
    cannot connect / connection dropped     ModelUnavailable (before the response started)
    invalid JSON, broken or cut stream      ModelResponseError (once the response started)

A streamed answer is handled one socket read at a time: the SSE events that came in a read are
decoded together, and consecutive text pieces among them become one `TextDelta` (their text
joined: nothing waits for it, they arrived together); tool-call deltas are given as they came.
Bytes already read are taken without a deadline; a read that has to wait has one
(`ReadDeadline`: one timer for all the reads of a call, not one per read).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from types import TracebackType
from typing import Any, NoReturn

import orjson

from agenthost.backends.common.http import Deadline, ReadDeadline, parse_retry_after
from agenthost.backends.common.sse import SSEDecoder
from agenthost.backends.common.transport import NotAnswered, Response, ResponseBroken, Transport
from agenthost.backends.models._decode import StreamAssembler, decode_completion
from agenthost.backends.models._input import InputPolicy, fit_input
from agenthost.backends.models._wire import wire_messages, wire_tools
from agenthost.backends.models.providers import Provider
from agenthost.core.errors import (
    ConfigError,
    ModelHTTPError,
    ModelResponseError,
    ModelTimeout,
    ModelUnavailable,
)
from agenthost.core.messages import Message
from agenthost.core.usage import Price
from agenthost.ports.models import ModelResponse, ModelSettings, ResponseDone, StreamEvent, ToolSpec


class OpenAICompatibleModel:
    """One model at one OpenAI-compatible endpoint. The one line for a self-hosted server:

        model = OpenAICompatibleModel("qwen2.5", base_url="http://127.0.0.1:8000/v1")
        agent = LLMAgent(model=model)

    `api_key` is sent as a bearer token when given; `provider=` instead shares one configured
    `Provider` (its pooled client, timeouts, prices) between models. Use it as an async
    context manager (LLMAgent and Runner do): it holds the provider's client while entered,
    and the last user closes it. `price` overrides the price table for cost.
    `input_policy` limits what the model takes (images and files are sent as OpenAI
    `image_url` / `file` content parts unless it says otherwise; see `_input.py`).
    """

    def __init__(
        self,
        model_name: str,
        *,
        provider: Provider | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        price: Price | None = None,
        input_policy: InputPolicy | None = None,
    ) -> None:
        if provider is None:
            if not base_url:
                raise ConfigError(
                    f"OpenAICompatibleModel({model_name!r}) needs base_url=... (e.g. "
                    f"http://127.0.0.1:8000/v1) or provider=Provider(...)."
                )
            provider = Provider("openai-compatible", base_url=base_url, api_key=api_key)
        elif base_url is not None or api_key is not None:
            raise ConfigError(
                f"OpenAICompatibleModel({model_name!r}): give either provider= or "
                f"base_url=/api_key=, not both."
            )
        self.model_name = model_name
        self.provider = provider
        # None: images and files go to the endpoint as they are (see _input.py)
        self.input_policy = input_policy
        self.price = price if price is not None else provider.price_for(model_name)
        self._name = f"{provider.name}:{model_name}"
        self._url = provider.base_url + "/chat/completions"

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"OpenAICompatibleModel({self.model_name!r}, provider={self.provider!r})"

    async def __aenter__(self) -> OpenAICompatibleModel:
        self.provider.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.provider.release()

    # ---- the two calls -------------------------------------------------------------------

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        body = self._body(messages, tools, settings, stream=False)
        seconds = self._timeout(settings)
        client, loop = self.provider.bound()
        try:
            with Deadline(loop.time() + seconds, loop=loop):
                response = await self._post(client, body)
                try:
                    payload = await response.read()
                except ResponseBroken as exc:
                    self._broken(exc)
                finally:
                    response.release()
        except TimeoutError as exc:
            raise ModelTimeout(model=self._name, seconds=seconds) from exc
        return decode_completion(payload, name=self._name, price=self.price)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        body = self._body(messages, tools, settings, stream=True)
        seconds = self._timeout(settings)
        client, loop = self.provider.bound()
        limits = ReadDeadline(loop, loop.time() + seconds, seconds, self.provider.idle_timeout)
        try:
            try:
                with limits:
                    response = await self._post(client, body)
            except TimeoutError as exc:
                raise ModelTimeout(model=self._name, seconds=limits.waited) from exc
            state = StreamAssembler(name=self._name, price=self.price)
            decoder = SSEDecoder()
            try:
                while True:
                    try:  # what already arrived needs no wait, so no deadline
                        chunk = response.read_nowait()
                        if not chunk:
                            with limits:
                                chunk = await response.readany()
                    except TimeoutError as exc:
                        raise ModelTimeout(model=self._name, seconds=limits.waited) from exc
                    except ResponseBroken as exc:
                        self._broken(exc)
                    if not chunk:
                        break
                    # every event of this read at once, its text joined (module docstring)
                    deltas, failure = state.feed_all(decoder.feed_data(chunk))
                    for delta in deltas:
                        yield delta
                    if failure is not None:
                        raise failure
                yield ResponseDone(state.finish())
            finally:  # unless read to its end, this closes the connection
                response.release()
        finally:
            limits.close()

    # ---- helpers -------------------------------------------------------------------------

    def _timeout(self, settings: ModelSettings | None) -> float:
        if settings is not None and settings.timeout is not None:
            return settings.timeout
        return self.provider.timeout

    def _body(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None,
        *,
        stream: bool,
    ) -> bytes:
        if self.input_policy is not None:
            messages = fit_input(messages, self.input_policy, model=self._name)
        body: dict[str, Any] = {"model": self.model_name, "messages": wire_messages(messages)}
        if tools:
            body["tools"] = wire_tools(tools)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if settings is not None:
            _apply_settings(body, settings)
        return orjson.dumps(body)

    async def _post(self, client: Transport, body: bytes) -> Response:
        """Send with `client` (the provider's); raise ModelUnavailable or ModelHTTPError;
        return a 2xx response to read."""
        provider = self.provider
        try:
            response = await client.post(self._url, body=body, headers=provider.headers)
        except ResponseBroken as exc:
            self._broken(exc)
        except NotAnswered as exc:
            raise ModelUnavailable(model=self._name, detail=_describe(exc)) from exc
        if response.status < 400:
            return response
        try:
            text = (await response.read()).decode(errors="replace")
        except ResponseBroken as exc:
            self._broken(exc)
        finally:
            response.release()
        retry_after = parse_retry_after(response.headers)
        raise ModelHTTPError(
            model=self._name,
            status_code=response.status,
            body=text,
            retry_after=retry_after,
            key_env=f"{self.provider.name.upper()}_API_KEY",
        )

    def _broken(self, exc: ResponseBroken) -> NoReturn:
        detail = f"the response broke off: {_describe(exc)}"
        raise ModelResponseError(model=self._name, detail=detail) from exc


def _apply_settings(body: dict[str, Any], settings: ModelSettings) -> None:
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        body["max_tokens"] = settings.max_tokens
    if settings.tool_choice is not None:
        body["tool_choice"] = settings.tool_choice
    for key, value in settings.extra.items():  # vendor fields; None removes a field
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
