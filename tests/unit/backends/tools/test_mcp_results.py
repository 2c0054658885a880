"""MCP CallToolResults (the SDK's own types, as a server sends them) as our ToolOutput."""

from __future__ import annotations

import base64

from mcp import types

from agenthost.backends.tools.mcp._results import to_output
from agenthost.core.messages import FilePart, ImagePart

PNG = b"\x89PNG\r\n\x1a\n-not-really"


def result(*content: object, **fields: object) -> types.CallToolResult:
    return types.CallToolResult.model_validate({"content": list(content), **fields})


def test_texts_are_joined() -> None:
    out = to_output(result({"type": "text", "text": "a"}, {"type": "text", "text": "b"}))
    assert out.content == "a\nb"
    assert not out.is_error and out.parts == ()


def test_an_image_is_a_part_named_in_the_text() -> None:
    data = base64.b64encode(PNG).decode()
    out = to_output(result({"type": "image", "data": data, "mimeType": "image/png"}))
    assert out.content == f"[image: image/png, {len(PNG)} bytes]"
    assert out.parts == (ImagePart(data=PNG, mime_type="image/png"),)


def test_embedded_resources_text_inline_blob_as_part() -> None:
    text = {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "hello"}}
    blob = {
        "type": "resource",
        "resource": {
            "uri": "file:///b.bin",
            "blob": base64.b64encode(b"\x00\x01").decode(),
            "mimeType": "application/octet-stream",
        },
    }
    out = to_output(result(text, blob))
    assert "[resource file:///a.txt]\nhello" in out.content
    assert "[resource file:///b.bin: application/octet-stream, 2 bytes]" in out.content
    assert out.parts == (
        FilePart(data=b"\x00\x01", mime_type="application/octet-stream", name="b.bin"),
    )


def test_an_image_resource_is_an_image_part() -> None:
    blob = {
        "type": "resource",
        "resource": {
            "uri": "demo://logo.png",
            "blob": base64.b64encode(PNG).decode(),
            "mimeType": "image/png",
        },
    }
    assert to_output(result(blob)).parts == (ImagePart(data=PNG, mime_type="image/png"),)


def test_a_resource_link_is_named() -> None:
    link = {"type": "resource_link", "uri": "file:///x.md", "name": "x", "description": "notes"}
    assert to_output(result(link)).content == "[resource link: x <file:///x.md> notes]"


def test_is_error_is_carried_and_never_empty() -> None:
    out = to_output(result({"type": "text", "text": "boom"}, isError=True))
    assert out.is_error and out.content == "boom"
    bare = to_output(result(isError=True))
    assert bare.is_error and "without a message" in bare.content


def test_structured_content_alone_is_json_text() -> None:
    out = to_output(result(structuredContent={"temperature": 21}))
    assert out.content == '{"temperature":21}'
