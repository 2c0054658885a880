"""What a model accepts as input, and what happens to the rest.

Every model takes text. `InputPolicy.accepts` names the other part kinds it takes ("image",
"file"); a message part of another kind is either refused before the call, with
`ModelInputUnsupported` (code `model_input_unsupported`, `on_unsupported="error"`, the
default), or replaced by a line of text that names it (`on_unsupported="text"`):

    [image: image/png, 1234 bytes, artifact://uploads/image-1.png?version=0]

Images in a `tool`-role message (the images a tool returned, engine/tool_images.py) always
become such lines for a model that cannot take them: the tool's text result already names them,
so a text-only model goes on without them.

The embedded local model is text only; an OpenAI-compatible model takes images and files
unless its config says otherwise (`models: {alias: {input: [text], unsupported_input: text}}`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from agenthost.core.errors import ModelInputUnsupported
from agenthost.core.messages import FilePart, ImagePart, Message, Part, TextPart

OnUnsupported = Literal["error", "text"]
_KIND = {ImagePart: "image", FilePart: "file"}


class InputPolicy(msgspec.Struct, frozen=True, kw_only=True):
    accepts: frozenset[str] = frozenset({"text", "image", "file"})
    on_unsupported: OnUnsupported = "error"


ANY_INPUT = InputPolicy()
TEXT_ONLY = InputPolicy(accepts=frozenset({"text"}))


def describe(part: ImagePart | FilePart) -> str:
    """A part as one line of text for a model that cannot take it."""
    kind = _KIND[type(part)]
    name = part.name if isinstance(part, FilePart) and part.name else None
    size = f"{len(part.data)} bytes" if part.data is not None else None
    where = part.url if part.url and not part.url.startswith("data:") else None
    fields = [f for f in (name, part.mime_type, size, where) if f]
    return f"[{kind}: {', '.join(fields)}]"


def fit_input(messages: Sequence[Message], policy: InputPolicy, *, model: str) -> Sequence[Message]:
    """`messages` as the model can take them (the same objects when nothing changes)."""
    out: list[Message] | None = None
    for index, message in enumerate(messages):
        refused = [
            p for p in message.parts if type(p) in _KIND and _KIND[type(p)] not in policy.accepts
        ]
        if not refused:
            if out is not None:
                out.append(message)
            continue
        # a tool-role message's images came from a tool (engine/tool_images.py), whose result
        # already names them: a model that cannot see them reads that, never an error
        if policy.on_unsupported == "error" and message.role != "tool":
            raise ModelInputUnsupported(
                model=model, kinds=[_KIND[type(p)] for p in refused], accepts=policy.accepts
            )
        if out is None:
            out = list(messages[:index])
        parts: list[Part] = [
            TextPart(text=describe(p)) if p in refused else p  # type: ignore[arg-type]
            for p in message.parts
        ]
        out.append(Message(role=message.role, parts=tuple(parts)))
    return messages if out is None else out
