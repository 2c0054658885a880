"""`LocalModel`: the embedded model as a ChatModel, tool calls included.

Text goes through `OpenAICompatibleModel` to the embedded llama.cpp server, like any other
endpoint. When the request carries tools, the model is led through the steps in `_prompts`
(choose a tool under a grammar, fill its arguments under its JSON schema, or answer in text)
and the result is returned as an ordinary tool call with finish_reason "tool_calls".
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import Counter
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from agenthost.backends.common.lifecycle import Closing
from agenthost.backends.models._input import TEXT_ONLY, InputPolicy, OnUnsupported, fit_input
from agenthost.backends.models.local import _prompts, _repetition, _server
from agenthost.backends.models.local._prompts import PreparedTool, ToolExample
from agenthost.core.errors import ModelResponseError, ModelTimeout
from agenthost.core.ids import new_id
from agenthost.core.messages import Message, ToolCallPart
from agenthost.core.usage import Price, Usage
from agenthost.ports.models import (
    ChatModel,
    ModelResponse,
    ModelSettings,
    ResponseDone,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)

if TYPE_CHECKING:
    from agenthost.backends.models.openai_compat import OpenAICompatibleModel

log = logging.getLogger("agenthost.models.local")

FREE = Price(input_per_mtok=0.0, output_per_mtok=0.0)
ARGUMENT_TOKENS = 256  # cap on the tokens of one tool call's arguments
REPLY_TOKENS = 256  # default cap on a text reply's tokens (a request's max_tokens wins)
CUT = "length"  # finish_reason of a reply cut at its cap or stopped in a loop


@dataclass(frozen=True, slots=True)
class _Call:
    """What the model decided to do with a request that had tools."""

    usage: Usage
    call: ToolCallPart | None = None  # a tool call, or None: answer `messages` in text
    messages: Sequence[Message] = ()


class LocalModel(Closing):
    """A small instruct model run in-process by llama.cpp (see `make_local_model`).

    The server starts on first use and is shared by every LocalModel of the same file; leave
    the model (``async with``) or call `aclose` to let it stop.
    """

    def __init__(
        self,
        model_name: str,
        path: Path,
        *,
        server: _server.ServerOptions | None = None,
        tool_examples: Mapping[str, Sequence[ToolExample]] | None = None,
        choice_votes: int = 3,
        temperature: float = 0.2,
        timeout: float = 300.0,
        reply_tokens: int = REPLY_TOKENS,
        unsupported_input: OnUnsupported = "error",
    ) -> None:
        self.model_name = model_name
        # text only: an image or file is refused, or described in text (`_input.py`)
        self.input_policy = InputPolicy(accepts=TEXT_ONLY.accepts, on_unsupported=unsupported_input)
        self.reply_tokens = reply_tokens
        self.path = path
        self.server_options = server or _server.ServerOptions()
        self.tool_examples = dict(tool_examples or {})
        self.choice_votes = max(1, choice_votes)
        self.temperature = temperature
        self.timeout = timeout
        self._name = f"local:{model_name}"
        self._handle: _server.ServerHandle | None = None
        self._inner: OpenAICompatibleModel | None = None
        self._starting: asyncio.Lock | None = None

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"LocalModel({self.model_name!r}, path={str(self.path)!r})"

    @property
    def restored_tokens(self) -> int:
        """Prompt tokens the server restored from the saved cache when it started (0 before
        the first call, or when it started cold)."""
        return self._handle.restored if self._handle is not None else 0

    @property
    def base_url(self) -> str | None:
        """The embedded server's URL once started (``http://127.0.0.1:PORT``), else None."""
        return self._handle.base_url if self._handle is not None else None

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start (or join) the embedded server now instead of at the first call."""
        await self._model()

    async def aclose(self) -> None:
        """Let go of the server; the last LocalModel of a file stops it."""
        inner, self._inner = self._inner, None
        handle, self._handle = self._handle, None
        if inner is not None:
            await inner.__aexit__(None, None, None)
        if handle is not None:
            await asyncio.to_thread(_server.release, handle)

    async def _model(self) -> OpenAICompatibleModel:
        if self._inner is not None:
            return self._inner
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._inner is None:
                from agenthost.backends.models.openai_compat import OpenAICompatibleModel
                from agenthost.backends.models.providers import Provider

                handle = await asyncio.to_thread(_server.acquire, self.path, self.server_options)
                provider = Provider(
                    "local",
                    base_url=handle.base_url + "/v1",
                    api_key=handle.api_key,
                    timeout=self.timeout,
                    # llama.cpp closes a kept-alive connection after 100 requests or 5 idle
                    # seconds, and aiohttp does not retry a request on such a stale pooled
                    # connection. A new loopback connection per request costs ~0.1 ms.
                    headers={"Connection": "close"},
                )
                inner = OpenAICompatibleModel(self.model_name, provider=provider, price=FREE)
                await inner.__aenter__()
                self._handle, self._inner = handle, inner
        assert self._inner is not None
        return self._inner

    # ---- the two calls --------------------------------------------------------------------

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        messages = fit_input(messages, self.input_policy, model=self._name)
        seconds = settings.timeout if settings is not None else None
        try:
            async with asyncio.timeout(seconds):
                decision = await self._decide(messages, tools, settings)
                if decision.call is not None:
                    return self._tool_response(decision)
                model = await self._model()
                response = await model.request(
                    decision.messages, settings=self._text_settings(settings)
                )
        except TimeoutError as exc:
            raise ModelTimeout(model=self._name, seconds=seconds) from exc
        text = response.message.text
        loop = _repetition.find_loop(text)
        if loop is not None:
            kept = _repetition.collapse(text, loop)
            response = msgspec.structs.replace(
                response, message=Message.assistant(kept), finish_reason=CUT
            )
        return msgspec.structs.replace(
            response, usage=decision.usage + response.usage, model=self._name
        )

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        messages = fit_input(messages, self.input_policy, model=self._name)
        decision = await self._decide(messages, tools, settings)
        if decision.call is not None:
            call = decision.call
            yield ToolCallDelta(index=0, id=call.id, name=call.name, arguments=call.arguments)
            yield ResponseDone(self._tool_response(decision))
            return
        model = await self._model()
        guard = _repetition.RepetitionGuard()
        deltas = 0
        inner = model.stream(decision.messages, settings=self._text_settings(settings))
        async with aclosing(inner):  # leaving early closes the request: llama.cpp stops
            async for event in inner:
                if isinstance(event, ResponseDone):
                    response = event.response
                    usage = decision.usage + response.usage
                    done = msgspec.structs.replace(response, usage=usage, model=self._name)
                    yield ResponseDone(done)
                    return
                if isinstance(event, TextDelta):
                    deltas += 1
                    yield event
                    if guard.feed(event.text):
                        break
        kind = guard.loop.kind if guard.loop is not None else "?"
        log.info(
            "local model %s: stopped a reply looping (%s) after %d tokens", self._name, kind, deltas
        )
        yield ResponseDone(
            ModelResponse(
                message=Message.assistant(_repetition.collapse(guard.text, guard.loop)),
                usage=decision.usage + Usage(output_tokens=deltas, requests=1),
                model=self._name,
                finish_reason=CUT,
            )
        )

    # ---- deciding what to do --------------------------------------------------------------

    async def _decide(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None,
    ) -> _Call:
        """Pick a tool and fill its arguments, or say which messages to answer in text."""
        usage = Usage()
        if _prompts.ends_with_tool_results(messages):
            return _Call(usage, messages=_prompts.answer_messages(messages))
        history = _prompts.text_history(messages)
        choice = settings.tool_choice if settings is not None else None
        last = _prompts.last_user_index(messages)
        if not tools or choice == "none" or last is None or not messages[last].text:
            return _Call(usage, messages=history)
        request = messages[last].text
        prepared = _prompts.prepare_tools(tools, self.tool_examples)
        forced = next((t for t in prepared if t.name == choice), None)
        if forced is None:
            allow_none = choice != "required"
            name, usage = await self._choose(request, prepared, allow_none, settings)
            forced = next((t for t in prepared if t.name == name), None)
            if forced is None:  # the model said no tool is needed
                return _Call(usage, messages=history)
        arguments, used = await self._fill(request, forced, settings)
        call = ToolCallPart(
            id="call_" + new_id().replace("-", ""), name=forced.name, arguments=arguments
        )
        return _Call(usage + used, call=call)

    async def _choose(
        self,
        request: str,
        tools: Sequence[PreparedTool],
        allow_none: bool,
        settings: ModelSettings | None,
    ) -> tuple[str, Usage]:
        """Majority vote over up to `choice_votes` orderings of the examples (ties: the first)."""
        grammar = _prompts.choice_grammar(_prompts.choice_labels(tools, allow_none=allow_none))
        model = await self._model()
        answers = []
        for order in range(self.choice_votes):  # one after another: on 2 cores, concurrent
            messages = _prompts.choice_messages(  # prompt processing is slower, not faster
                request, tools, allow_none=allow_none, order=order
            )
            constrained = self._constrained(
                grammar, max_tokens=16, settings=settings, slot=self._slot(order)
            )
            answers.append(await model.request(messages, settings=constrained))
            votes = Counter(answer.message.text.strip() for answer in answers)
            if votes.most_common(1)[0][1] * 2 > self.choice_votes:  # a majority already
                break
        first = answers[0].message.text.strip()
        top = max(votes.values())
        winner = first if votes[first] == top else votes.most_common(1)[0][0]
        return winner, _total(answer.usage for answer in answers)

    async def _fill(
        self, request: str, tool: PreparedTool, settings: ModelSettings | None
    ) -> tuple[str, Usage]:
        """The tool's arguments as JSON text that matches its parameters schema."""
        grammar = _prompts.arguments_grammar(tool.spec.parameters)
        model = await self._model()
        response = await model.request(
            _prompts.arguments_messages(request, tool),
            settings=self._constrained(
                grammar, max_tokens=ARGUMENT_TOKENS, settings=settings, slot=self._fill_slot(tool)
            ),
        )
        text = response.message.text.strip()
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            detail = (
                f"the arguments for tool {tool.name!r} are not complete JSON "
                f"(finish_reason {response.finish_reason!r}): {text[:200]!r}"
            )
            raise ModelResponseError(model=self._name, detail=detail) from exc
        if not isinstance(value, dict):
            detail = f"the arguments for tool {tool.name!r} are not a JSON object: {text[:200]!r}"
            raise ModelResponseError(model=self._name, detail=detail)
        return orjson.dumps(value).decode(), response.usage

    # ---- helpers --------------------------------------------------------------------------

    def _tool_response(self, decision: _Call) -> ModelResponse:
        assert decision.call is not None
        return ModelResponse(
            message=Message.assistant("", (decision.call,)),
            usage=decision.usage,
            model=self._name,
            finish_reason="tool_calls",
        )

    def _text_settings(self, settings: ModelSettings | None) -> ModelSettings:
        """A text reply: the model's temperature and reply cap unless the request sets them."""
        settings = settings or ModelSettings()
        temperature, max_tokens = settings.temperature, settings.max_tokens
        return msgspec.structs.replace(
            settings,
            tool_choice=None,
            temperature=self.temperature if temperature is None else temperature,
            max_tokens=self.reply_tokens if max_tokens is None else max_tokens,
            extra={"id_slot": self._slot(self.server_options.parallel - 1), **settings.extra},
        )

    # Each kind of prompt has its own llama.cpp slot ("id_slot"), so that one prompt does not
    # evict another's cache: the example orderings of the tool choice take the first slots,
    # the arguments of a tool one of the next, text replies the last. The slots are what is
    # saved and restored across processes (see _server).

    def _slot(self, index: int) -> int:
        return max(0, min(index, self.server_options.parallel - 1))

    def _fill_slot(self, tool: PreparedTool) -> int:
        spare = self.server_options.parallel - self.choice_votes - 1
        if spare < 1:
            return self._slot(self.choice_votes)
        return self._slot(self.choice_votes + zlib.crc32(tool.name.encode()) % spare)

    @staticmethod
    def _constrained(
        grammar: str, *, max_tokens: int, settings: ModelSettings | None, slot: int
    ) -> ModelSettings:
        extra: dict[str, Any] = {"grammar": grammar, "id_slot": slot}
        timeout = settings.timeout if settings is not None else None
        return ModelSettings(temperature=0.0, max_tokens=max_tokens, timeout=timeout, extra=extra)


def _total(usages: Any) -> Usage:
    total = Usage()
    for usage in usages:
        total = total + usage
    return total


def as_examples(value: Mapping[str, Sequence[Any]] | None) -> dict[str, tuple[ToolExample, ...]]:
    """Normalize `tool_examples`: per tool, ToolExample, ``"request -> {json}"`` strings, or
    (request, arguments) pairs."""
    out: dict[str, tuple[ToolExample, ...]] = {}
    for name, examples in (value or {}).items():
        items = []
        for example in examples:
            if isinstance(example, ToolExample):
                items.append(example)
            elif isinstance(example, str):
                items.append(_prompts.parse_example(example))
            else:
                request, arguments = example
                items.append(ToolExample(str(request), dict(arguments)))
        out[name] = tuple(items)
    return out


def _check_protocol(model: LocalModel) -> ChatModel:
    return model  # mypy checks that LocalModel implements the ChatModel port
