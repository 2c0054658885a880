"""Chat-completions responses (whole or streamed) to our ModelResponse and stream events."""

from __future__ import annotations

from typing import Any

import orjson

from agenthost.core.errors import ModelResponseError
from agenthost.core.messages import Message, ToolCallPart
from agenthost.core.usage import Price, Usage
from agenthost.ports.models import ModelResponse, TextDelta, ToolCallDelta


def make_usage(raw: dict[str, Any] | None, price: Price | None) -> Usage:
    raw = raw or {}
    usage = Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        requests=1,
    )
    if price is not None:
        usage.cost = price.cost(usage)
    return usage


def _arguments(value: Any) -> str:
    if value is None:
        return "{}"
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def decode_completion(payload: bytes, *, name: str, price: Price | None) -> ModelResponse:
    """A whole (non-streamed) chat.completion body."""
    try:
        data = orjson.loads(payload)
        choice = data["choices"][0]
        message = choice["message"]
        calls = tuple(
            ToolCallPart(
                id=call.get("id") or f"call_{i}",
                name=call["function"]["name"],
                arguments=_arguments(call["function"].get("arguments")),
            )
            for i, call in enumerate(message.get("tool_calls") or ())
        )
        text = message.get("content") or ""
        if not isinstance(text, str):
            raise TypeError(f"content is {type(text).__name__}, not a string")
        usage = make_usage(data.get("usage"), price)
    except orjson.JSONDecodeError as exc:
        detail = f"invalid JSON ({exc}): {payload[:200]!r}"
        raise ModelResponseError(model=name, detail=detail) from exc
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        detail = f"unexpected shape ({exc!r}): {payload[:200]!r}"
        raise ModelResponseError(model=name, detail=detail) from exc
    return ModelResponse(
        message=Message.assistant(text, calls),
        usage=usage,
        model=name,
        finish_reason=choice.get("finish_reason"),
    )


class StreamAssembler:
    """Turns the `data:` payloads of a chat.completion.chunk stream into deltas and, at the end,
    the assembled ModelResponse (text, tool calls ordered by index, usage, finish reason).

    It takes the payloads of one read at a time, and joins consecutive text pieces among them
    into one TextDelta: they arrived together, so no text waits longer for it, and each delta
    costs every layer above (the engine, an event, the edges) once. The joined text is the
    pieces' own text; tool-call deltas, usage and finish reason are not joined or touched.
    """

    __slots__ = ("_calls", "_text", "done", "finish_reason", "name", "price", "usage")

    def __init__(self, *, name: str, price: Price | None) -> None:
        self.name = name
        self.price = price
        self._text: list[str] = []
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, [argument pieces]]
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.done = False

    def feed_all(
        self, payloads: list[str]
    ) -> tuple[list[TextDelta | ToolCallDelta], ModelResponseError | None]:
        """The deltas of the SSE data payloads of one read (`[DONE]` marks the end), and the
        error that stopped them, if one did: the deltas are those of the payloads before it."""
        out: list[TextDelta | ToolCallDelta] = []
        texts: list[str] = []  # text pieces not in `out` yet
        failure = None
        for data in payloads:
            if data == "[DONE]":
                self.done = True
                continue
            try:
                items = self._chunk(orjson.loads(data))
            except ModelResponseError as exc:
                failure = exc
                break
            except orjson.JSONDecodeError as exc:
                failure = self._error(f"invalid JSON in stream ({exc})", data, exc)
                break
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                failure = self._error(f"unexpected chunk shape ({exc!r})", data, exc)
                break
            for item in items:
                if isinstance(item, str):
                    texts.append(item)
                else:  # a tool-call delta: the text before it goes first
                    if texts:
                        out.append(TextDelta("".join(texts)))
                        texts = []
                    out.append(item)
        if texts:
            out.append(TextDelta("".join(texts)))
        return out, failure

    def _error(self, what: str, data: str, exc: Exception) -> ModelResponseError:
        error = ModelResponseError(model=self.name, detail=f"{what}: {data[:200]!r}")
        error.__cause__ = exc  # as `raise ... from exc` would
        return error

    def _chunk(self, chunk: dict[str, Any]) -> list[str | ToolCallDelta]:
        """One chunk's text pieces and tool-call deltas, in order."""
        if chunk.get("error"):
            raise ModelResponseError(model=self.name, detail=f"error in stream: {chunk['error']}")
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        out: list[str | ToolCallDelta] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                if type(content) is not str:
                    raise TypeError(f"content is {type(content).__name__}, not a string")
                self._text.append(content)
                out.append(content)
            for position, call in enumerate(delta.get("tool_calls") or ()):
                out.append(self._tool_call(position, call))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def _tool_call(self, position: int, call: dict[str, Any]) -> ToolCallDelta:
        index = call.get("index", position)
        function = call.get("function") or {}
        call_id, name = call.get("id"), function.get("name")
        arguments = _arguments(function.get("arguments")) if "arguments" in function else ""
        entry = self._calls.get(index)
        if entry is None:
            entry = self._calls[index] = [None, None, []]
        if call_id:
            entry[0] = call_id
        if name:
            entry[1] = name
        if arguments:
            entry[2].append(arguments)
        return ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments)

    def finish(self) -> ModelResponse:
        """The assembled response; raises when the stream ended before it was complete."""
        if not self.done and self.finish_reason is None:
            detail = "the stream ended before its finish_reason or [DONE] (connection cut?)"
            raise ModelResponseError(model=self.name, detail=detail)
        calls = []
        for index in sorted(self._calls):
            call_id, name, pieces = self._calls[index]
            if not name:
                detail = f"tool call {index} in the stream never got a name"
                raise ModelResponseError(model=self.name, detail=detail)
            arguments = "".join(pieces) or "{}"
            call_id = call_id or f"call_{index}"
            calls.append(ToolCallPart(id=call_id, name=name, arguments=arguments))
        return ModelResponse(
            message=Message.assistant("".join(self._text), tuple(calls)),
            usage=make_usage(self.usage, self.price),
            model=self.name,
            finish_reason=self.finish_reason,
        )
