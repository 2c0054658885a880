"""Files the CLI attaches to a message (`agenthost run --file PATH`, `/attach PATH` in chat):
read whole, an image as an image part, anything else as a file part with its name. The runner
keeps each as an artifact of the session (`uploads/<name>`)."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from pathlib import Path

from agenthost.core.errors import InvalidArgument
from agenthost.core.messages import FilePart, ImagePart, Message, Part, TextPart

MAX_BYTES = 20_000_000


def attachment(path: Path, field: str = "--file") -> ImagePart | FilePart:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InvalidArgument(field, f"{path} is {size} bytes; attach at most {MAX_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(field, f"cannot read {path}: {exc.strerror or exc}") from exc
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if mime.startswith("image/"):
        return ImagePart(data=data, mime_type=mime)
    return FilePart(data=data, mime_type=mime, name=path.name)


def with_files(text: str, paths: Sequence[Path], field: str = "--file") -> str | Message:
    """`text` alone, or a user message of `text` and the files."""
    if not paths:
        return text
    parts: list[Part] = [TextPart(text=text)] if text else []
    parts.extend(attachment(path, field) for path in paths)
    return Message(role="user", parts=tuple(parts))
