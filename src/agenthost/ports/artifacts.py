"""The artifact store port: versioned files per session (or per user), after ADK's
ArtifactService.

An artifact is a named blob with a mime type. Every `save` makes a new version (0, 1, 2, ...);
`load` gives the newest version or the one asked for. A name starting with `user:` belongs to
the user (every session of that user sees it); any other name belongs to one session.

    save      a new version of `name`                      -> ArtifactInfo (its version)
    load      the newest or a given version                -> Artifact | None
    list      the newest version of every artifact visible from the session (its own and the
              user's), by name
    versions  every version of one artifact, oldest first
    delete    every version of one artifact                -> True if there was one

Backends: memory, the local file system (the default), SQLite, Postgres and MySQL (blob
tables); one contract suite (tests/contract/test_artifact_store.py) runs against each. A
reference to an artifact in text is `artifact://NAME?version=N` (`artifact_ref`).
"""

from __future__ import annotations

import builtins
import time
from types import TracebackType
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, quote, unquote, urlsplit

import msgspec

from agenthost.core.errors import InvalidArgument

USER_PREFIX = "user:"
MAX_NAME_LENGTH = 256


class ArtifactInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One version of an artifact, without its bytes."""

    name: str
    version: int
    mime_type: str = "application/octet-stream"
    size: int = 0
    created_at: float = 0.0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def ref(self) -> str:
        return artifact_ref(self.name, self.version)


class Artifact(msgspec.Struct, frozen=True, kw_only=True):
    """One version of an artifact with its bytes."""

    info: ArtifactInfo
    data: bytes

    @property
    def text(self) -> str:
        """The bytes as UTF-8 text (undecodable bytes replaced)."""
        return self.data.decode("utf-8", "replace")


@runtime_checkable
class ArtifactStore(Protocol):
    """Where artifacts live. `app`, `user_id` and `session_id` pick the owner; a `user:` name
    is stored for the user whatever the session. Missing artifacts are None / [] / False,
    never an error; a bad name is `InvalidArgument` (see `check_name`)."""

    async def save(
        self,
        *,
        app: str,
        user_id: str,
        session_id: str,
        name: str,
        data: bytes,
        mime_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
    ) -> ArtifactInfo: ...

    async def load(
        self, *, app: str, user_id: str, session_id: str, name: str, version: int | None = None
    ) -> Artifact | None: ...

    async def list(self, *, app: str, user_id: str, session_id: str) -> list[ArtifactInfo]: ...

    async def versions(
        self, *, app: str, user_id: str, session_id: str, name: str
    ) -> builtins.list[ArtifactInfo]: ...

    async def delete(self, *, app: str, user_id: str, session_id: str, name: str) -> bool: ...

    async def __aenter__(self) -> ArtifactStore: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def check_name(name: str, field: str = "name") -> str:
    """`name` if it is a good artifact name: 1-256 characters, no control characters or
    backslashes, '/'-separated segments that are neither empty nor '.' or '..'."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(field, f"an artifact name is 1-{MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 or c in "\\\x7f" for c in name):
        raise InvalidArgument(field, f"{name!r}: no control characters or backslashes")
    bare = name.removeprefix(USER_PREFIX)
    if any(segment in ("", ".", "..") for segment in bare.split("/")):
        raise InvalidArgument(
            field, f"{name!r}: use '/'-separated segments, none empty, '.' or '..'"
        )
    return name


def owner_session(name: str, session_id: str) -> str:
    """The session an artifact belongs to: '' for a `user:` name (the user's), else
    `session_id`."""
    return "" if name.startswith(USER_PREFIX) else session_id


def artifact_key(app: str, user_id: str, session_id: str, name: str) -> tuple[str, str, str, str]:
    """What an artifact is stored under: app, user, owning session (see `owner_session`) and
    its name, the name checked first (`check_name`)."""
    check_name(name)
    return (app, user_id, owner_session(name, session_id), name)


def new_info(
    name: str, version: int, data: bytes, mime_type: str, metadata: dict[str, Any] | None
) -> ArtifactInfo:
    return ArtifactInfo(
        name=name,
        version=version,
        mime_type=mime_type or "application/octet-stream",
        size=len(data),
        created_at=time.time(),
        metadata=dict(metadata or {}),
    )


def artifact_ref(name: str, version: int) -> str:
    """`artifact://NAME?version=N`: how text refers to one artifact version."""
    return f"artifact://{quote(name, safe='/:@+=-._~')}?version={version}"


def parse_ref(ref: str) -> tuple[str, int | None] | None:
    """(name, version) of an `artifact://` reference, or None when `ref` is not one."""
    if not ref.startswith("artifact://"):
        return None
    parts = urlsplit(ref)
    name = unquote(parts.netloc + parts.path)
    raw = parse_qs(parts.query).get("version", [None])[0]
    version = int(raw) if raw is not None and raw.isdigit() else None
    return (name, version) if name else None


__all__ = [
    "USER_PREFIX",
    "Artifact",
    "ArtifactInfo",
    "ArtifactStore",
    "artifact_ref",
    "check_name",
    "new_info",
    "owner_session",
    "parse_ref",
]
