"""The images tools return, shown to the model.

A tool's `ToolOutput.parts` may hold images (a browser screenshot, an MCP tool's image). The
tool result itself stays text (OpenAI's Chat Completions API takes only text in `tool`
messages), so after a round's tool results LLMAgent adds one more message holding the images,
each after a line naming the call it came from. The message has the role `tool` and no tool
result: the OpenAI-compatible encoder sends it as a `user` message after the `tool` messages
(as LangChain and pydantic-ai do with tool images), and a model that cannot take images reads
a line of text naming each one instead (`fit_input`), never an error. The tool result's text
already names each image (and its artifact, when the run has an artifact store).

The images live only in the run's own message list, never in the session's events: a later
run's model reads the text naming them. Within a run, only the newest `limit` images are kept
(a browsing agent takes a screenshot each round); older ones leave the list.
"""

from __future__ import annotations

from collections.abc import Sequence

from agenthost.core.messages import ImagePart, Message, Part, TextPart, ToolCallPart
from agenthost.ports.tools import ToolOutput


def images_message(calls: Sequence[ToolCallPart], outputs: Sequence[ToolOutput]) -> Message | None:
    """The message showing the images of one round's tool outputs, or None if there are
    none."""
    parts: list[Part] = []
    for call, output in zip(calls, outputs, strict=True):
        images = [p for p in output.parts if type(p) is ImagePart]
        if not images:
            continue
        noun = "image" if len(images) == 1 else f"{len(images)} images"
        parts.append(TextPart(text=f"The {noun} returned by tool {call.name} (call {call.id}):"))
        parts.extend(images)
    return Message(role="tool", parts=tuple(parts)) if parts else None


def is_images_message(message: Message) -> bool:
    """Whether `message` is one `images_message` made (a tool message with no tool result)."""
    return message.role == "tool" and any(type(p) is ImagePart for p in message.parts)


def keep_newest(messages: list[Message], limit: int) -> None:
    """Drop, in place, the images of tool-image messages beyond the newest `limit` (a message
    left without images goes)."""
    kept = 0
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if not is_images_message(message):
            continue
        count = sum(1 for p in message.parts if type(p) is ImagePart)
        if kept + count <= limit:
            kept += count
            continue
        room = limit - kept
        kept = limit
        parts: list[Part] = []
        for part in reversed(message.parts):  # keep the message's last `room` images
            if type(part) is ImagePart:
                if room <= 0:
                    continue
                room -= 1
            parts.append(part)
        parts.reverse()
        if any(type(p) is ImagePart for p in parts):
            messages[index] = Message(role="tool", parts=tuple(parts))
        else:
            del messages[index]
