"""An MCP `CallToolResult` as our ToolOutput: text joined for the model, images (and other
binary content) kept as parts, embedded resources inlined, `isError` carried over."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from mcp import types

from agenthost.core.messages import FilePart, ImagePart
from agenthost.ports.tools import ToolOutput


def to_output(result: types.CallToolResult) -> ToolOutput:
    texts: list[str] = []
    parts: list[ImagePart | FilePart] = []
    for block in result.content:
        text, part = _block(block)
        if text:
            texts.append(text)
        if part is not None:
            parts.append(part)
    if not result.content and result.structured_content is not None:
        texts.append(orjson.dumps(result.structured_content).decode())
    content = "\n".join(texts)
    if result.is_error and not content:
        content = "error: the tool reported an error without a message"
    return ToolOutput(content=content, is_error=result.is_error, parts=tuple(parts))


def _block(block: Any) -> tuple[str, ImagePart | FilePart | None]:
    if isinstance(block, types.TextContent):
        return block.text, None
    if isinstance(block, types.ImageContent):
        data = _decode(block.data)
        part = ImagePart(data=data, mime_type=block.mime_type)
        return f"[image: {block.mime_type}, {len(data)} bytes]", part
    if isinstance(block, types.AudioContent):
        data = _decode(block.data)
        return f"[audio: {block.mime_type}, {len(data)} bytes]", FilePart(
            data=data, mime_type=block.mime_type
        )
    if isinstance(block, types.EmbeddedResource):
        return _resource(block.resource)
    if isinstance(block, types.ResourceLink):
        label = block.title or block.name
        return f"[resource link: {label} <{block.uri}>" + (
            f" {block.description}]" if block.description else "]"
        ), None
    return f"[unsupported content: {getattr(block, 'type', type(block).__name__)}]", None


def _resource(
    resource: types.TextResourceContents | types.BlobResourceContents,
) -> tuple[str, ImagePart | FilePart | None]:
    uri = str(resource.uri)
    mime = resource.mime_type or "application/octet-stream"
    if isinstance(resource, types.TextResourceContents):
        return f"[resource {uri}]\n{resource.text}", None
    data = _decode(resource.blob)
    label = f"[resource {uri}: {mime}, {len(data)} bytes]"
    if mime.startswith("image/"):
        return label, ImagePart(data=data, mime_type=mime)
    return label, FilePart(data=data, mime_type=mime, name=uri.rsplit("/", 1)[-1] or None)


def _decode(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data.encode()
