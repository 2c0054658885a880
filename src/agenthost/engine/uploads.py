"""A user's attachments become artifacts: every image or file part with inline bytes in the
message is saved in the session's artifact store as `uploads/<name>`, and the part carries
the reference (`artifact://uploads/<name>?version=N`) in its `url` while keeping its bytes,
so a model that takes images still gets them and a text-only one can name them.

The parts' names come from the file name the client sent (reduced to letters, digits and
`._-`), else `image-<n>.<ext>` / `file-<n>.<ext>` after the part's position and mime type.
"""

from __future__ import annotations

import mimetypes
import re

from agenthost.core.messages import FilePart, ImagePart, Message, Part
from agenthost.core.session import SessionKey
from agenthost.ports.artifacts import ArtifactStore, artifact_ref

UPLOADS = "uploads/"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def upload_name(part: ImagePart | FilePart, index: int) -> str:
    """The artifact name an attachment is saved under."""
    raw = part.name if isinstance(part, FilePart) else None
    if raw:
        base = _UNSAFE.sub("_", raw.replace("\\", "/").rsplit("/", 1)[-1]).strip("._")[:120]
        if base:
            return UPLOADS + base
    kind = "image" if type(part) is ImagePart else "file"
    extension = mimetypes.guess_extension(part.mime_type or "") or ".bin"
    return f"{UPLOADS}{kind}-{index}{extension}"


async def keep_uploads(store: ArtifactStore, key: SessionKey, message: Message) -> Message:
    """`message` with each inline attachment saved as an artifact and referenced by its part
    (the same object when it has none)."""
    if not any(isinstance(p, ImagePart | FilePart) and p.data is not None for p in message.parts):
        return message
    parts: list[Part] = []
    for index, part in enumerate(message.parts):
        if not isinstance(part, ImagePart | FilePart) or part.data is None:
            parts.append(part)
            continue
        name = upload_name(part, index)
        info = await store.save(
            app=key.app,
            user_id=key.user_id,
            session_id=key.session_id,
            name=name,
            data=part.data,
            mime_type=part.mime_type,
            metadata={"source": "upload"},
        )
        ref = artifact_ref(info.name, info.version)
        if isinstance(part, ImagePart):
            parts.append(ImagePart(url=ref, data=part.data, mime_type=part.mime_type))
        else:
            parts.append(
                FilePart(
                    url=ref,
                    data=part.data,
                    mime_type=part.mime_type,
                    name=part.name or name[len(UPLOADS) :],
                )
            )
    return Message(role=message.role, parts=tuple(parts))
