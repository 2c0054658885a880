"""Our messages and tools in the OpenAI chat-completions wire format, encoded once (cached).

Encoding is cached: a Message is frozen, so its wire form never changes. Each message is
encoded once to JSON (one `orjson.Fragment`: its wire messages joined with commas, which is
valid inside the messages array) and kept in a bounded cache keyed by `id(message)`; the entry
holds the message itself, so the id cannot be reused while the entry lives. A request with 600
old messages then costs 600 dict look-ups (about 50 µs here) and one `orjson.dumps` that copies
the fragments (about 7 µs), instead of building and serializing 600 dicts (about 1.8 ms).

On top of that, the fragments of recent calls are remembered by their last message: when a
history is a recent call's history plus a few new messages (the usual agent loop), only the
new messages are looked up, after checking that the prefix is still equal (a list comparison,
identity first, a few µs). Any mismatch just falls back to the per-message cache.

Both caches are shared by every OpenAI-compatible model (the wire format is the same); each
evicts its oldest half when full. The message cache is bounded by `MAX_ENTRIES` messages and by
`MAX_BYTES` of the memory it really holds: an entry keeps its message alive (with the server on
SQLite, the session may be long gone), so its cost is estimated as the JSON (twice: the message
holds the same strings) plus `ENTRY_OVERHEAD` bytes of objects (tuple, dict slot, fragment,
message and part structs). The prefix cache is bounded by `MAX_PREFIXES` calls and by
`MAX_PREFIX_ITEMS` list items over all of them (two lists per call, 8 bytes an item).

The JSON is copied once into an exactly-sized bytes object: orjson 3.x returns bytes that
keep a 4 KB allocation however short the JSON, so caching them as they come held about 4 KB
per message (measured: a server RSS that grew 13 KB per run and never came back).
"""

from __future__ import annotations

import base64
import operator
from collections.abc import Sequence
from typing import Any

import orjson

from agenthost.core.errors import InvalidArgument
from agenthost.core.messages import (
    FilePart,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from agenthost.ports.models import ToolSpec

MAX_ENTRIES = 50_000
MAX_BYTES = 8 * 1024 * 1024
ENTRY_OVERHEAD = 500  # measured: ~700 bytes per short message with its JSON; see the docstring

_Entry = tuple[object, orjson.Fragment, int]  # (message or tool, its JSON, size)
_cache: dict[int, _Entry] = {}
_cache_bytes = 0
_FRAGMENT = operator.itemgetter(1)
# id(last message) -> (the messages of a recent call, their fragments); the list holds the key
_prefixes: dict[int, tuple[list[Message], list[orjson.Fragment]]] = {}
MAX_PREFIXES = 2048
MAX_PREFIX_ITEMS = 200_000
_prefix_items = 0
_LOOK_BACK = 8


def _data_url(mime_type: str, data: bytes) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


def _image(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        return {"type": "image_url", "image_url": {"url": _data_url(part.mime_type, part.data)}}
    if part.url:
        return {"type": "image_url", "image_url": {"url": part.url}}
    raise InvalidArgument("ImagePart", "an image needs a url or inline data")


def _file(part: FilePart) -> dict[str, Any]:
    if part.data is None:
        raise InvalidArgument(
            "FilePart.url",
            f"OpenAI-compatible chat completions cannot fetch a file by URL ({part.url!r}); "
            "pass the file's bytes as FilePart(data=..., mime_type=...).",
        )
    file = {"filename": part.name or "file", "file_data": _data_url(part.mime_type, part.data)}
    return {"type": "file", "file": file}


def _content(parts: Sequence[Any]) -> str | list[dict[str, Any]]:
    """A plain string when there is only text, else a list of typed content parts."""
    if all(type(p) is TextPart for p in parts):
        return "".join(p.text for p in parts)
    out: list[dict[str, Any]] = []
    for part in parts:
        if type(part) is TextPart:
            out.append({"type": "text", "text": part.text})
        elif type(part) is ImagePart:
            out.append(_image(part))
        else:
            out.append(_file(part))
    return out


def encode_message(message: Message) -> list[dict[str, Any]]:
    """The wire messages of one Message (a tool message with N results gives N messages)."""
    parts = message.parts
    if len(parts) == 1:  # the usual messages, as the general rules below encode them
        part, role = parts[0], message.role
        if type(part) is TextPart:
            return [{"role": "user" if role == "tool" else role, "content": part.text}]
        if type(part) is ToolResultPart and role == "tool":
            return [{"role": "tool", "tool_call_id": part.tool_call_id, "content": part.content}]
    return _encode_parts(message)


def _encode_parts(message: Message) -> list[dict[str, Any]]:
    """`encode_message` for any parts."""
    results = [p for p in message.parts if type(p) is ToolResultPart]
    wire = [{"role": "tool", "tool_call_id": r.tool_call_id, "content": r.content} for r in results]
    calls = [p for p in message.parts if type(p) is ToolCallPart]
    rest = [p for p in message.parts if type(p) in (TextPart, ImagePart, FilePart)]
    if message.role == "assistant":
        text = "".join(p.text for p in rest if type(p) is TextPart)
        out: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
        if calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in calls
            ]
        wire.append(out)
    elif message.role == "system":
        wire.append({"role": "system", "content": message.text})
    elif rest or not results:
        role = "user" if message.role == "tool" else message.role
        content: dict[str, Any] = {"role": role, "content": _content(rest)}
        wire.append(content)
    return wire


def encode_tool(tool: ToolSpec) -> list[dict[str, Any]]:
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return [{"type": "function", "function": function}]


def _evict() -> None:
    global _cache_bytes
    for key in list(_cache)[: len(_cache) // 2 + 1]:
        _cache_bytes -= _cache.pop(key)[2]


def entry_cost(raw: bytes) -> int:
    """The memory a cache entry is counted for: its JSON, the message's strings, objects."""
    return 2 * len(raw) + ENTRY_OVERHEAD


def _miss(value: Message | ToolSpec) -> _Entry:
    """Encode and cache one message (or tool): one fragment holding its wire messages."""
    global _cache_bytes
    dicts = encode_message(value) if isinstance(value, Message) else encode_tool(value)
    raw = orjson.dumps(dicts[0]) if len(dicts) == 1 else b",".join(map(orjson.dumps, dicts))
    raw = b"".join((raw, b""))  # an exactly-sized copy (see the docstring)
    cost = entry_cost(raw)
    if len(_cache) >= MAX_ENTRIES or _cache_bytes + cost > MAX_BYTES:
        _evict()
    entry = _cache[id(value)] = (value, orjson.Fragment(raw), cost)
    _cache_bytes += cost
    return entry


def _fragments(values: Sequence[Message | ToolSpec]) -> list[orjson.Fragment]:
    # C-level map()s: ~25 ns per cached message. An entry holds its object, so no other live
    # object can have its id: a hit needs no identity check.
    hits = list(map(_cache.get, map(id, values)))
    if None in hits:
        hits = [hit or _miss(value) for value, hit in zip(values, hits, strict=True)]
    return list(map(_FRAGMENT, hits))  # type: ignore[arg-type]


def wire_messages(messages: Sequence[Message]) -> list[orjson.Fragment]:
    """The messages as pre-serialized JSON fragments, for `orjson.dumps`."""
    msgs = messages if type(messages) is list else list(messages)
    count = len(msgs)
    for back in range(min(count, _LOOK_BACK)):  # was a recent call's history our prefix?
        key = id(msgs[count - 1 - back])
        snapshot = _prefixes.get(key)
        if snapshot is not None and len(snapshot[0]) == count - back:
            if back == 0 and snapshot[0] == msgs:
                return list(snapshot[1])
            if msgs[: count - back] == snapshot[0]:
                _forget_prefix(key)  # the conversation moved on
                fragments = snapshot[1] + _fragments(msgs[count - back :])
                break
    else:
        fragments = _fragments(msgs)
    if msgs:
        _remember(msgs, fragments)
    return list(fragments)


def _remember(msgs: list[Message], fragments: list[orjson.Fragment]) -> None:
    global _prefix_items
    if len(_prefixes) >= MAX_PREFIXES or _prefix_items + len(msgs) > MAX_PREFIX_ITEMS:
        for old in list(_prefixes)[: len(_prefixes) // 2 + 1]:
            _prefix_items -= len(_prefixes.pop(old)[0])
    key = id(msgs[-1])
    replaced = _prefixes.pop(key, None)
    if replaced is not None:
        _prefix_items -= len(replaced[0])
    _prefixes[key] = (list(msgs), fragments)
    _prefix_items += len(msgs)


def wire_tools(tools: Sequence[ToolSpec]) -> list[orjson.Fragment]:
    return _fragments(tools)


def _forget_prefix(key: int) -> None:
    global _prefix_items
    _prefix_items -= len(_prefixes.pop(key)[0])


def clear_cache() -> None:
    global _cache_bytes, _prefix_items
    _cache.clear()
    _prefixes.clear()
    _cache_bytes = 0
    _prefix_items = 0
