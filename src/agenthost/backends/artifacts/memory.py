"""`MemoryArtifactStore`: artifacts in this process only, lost at exit (tests, demos)."""

from __future__ import annotations

import builtins
from types import TracebackType
from typing import Any

from agenthost.ports.artifacts import (
    Artifact,
    ArtifactInfo,
    artifact_key,
    new_info,
)

_Key = tuple[str, str, str, str]  # app, user, owner session ('' = the user's), name


class MemoryArtifactStore:
    def __init__(self) -> None:
        self._items: dict[_Key, list[Artifact]] = {}

    @staticmethod
    def _key(app: str, user_id: str, session_id: str, name: str) -> _Key:
        return artifact_key(app, user_id, session_id, name)

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
    ) -> ArtifactInfo:
        versions = self._items.setdefault(self._key(app, user_id, session_id, name), [])
        info = new_info(name, len(versions), bytes(data), mime_type, metadata)
        versions.append(Artifact(info=info, data=bytes(data)))
        return info

    async def load(
        self, *, app: str, user_id: str, session_id: str, name: str, version: int | None = None
    ) -> Artifact | None:
        versions = self._items.get(self._key(app, user_id, session_id, name))
        if not versions:
            return None
        if version is None:
            return versions[-1]
        return versions[version] if 0 <= version < len(versions) else None

    async def list(self, *, app: str, user_id: str, session_id: str) -> list[ArtifactInfo]:
        found = [
            versions[-1].info
            for (a, u, s, _), versions in self._items.items()
            if a == app and u == user_id and s in (session_id, "") and versions
        ]
        return sorted(found, key=lambda info: info.name)

    async def versions(
        self, *, app: str, user_id: str, session_id: str, name: str
    ) -> builtins.list[ArtifactInfo]:
        return [a.info for a in self._items.get(self._key(app, user_id, session_id, name), [])]

    async def delete(self, *, app: str, user_id: str, session_id: str, name: str) -> bool:
        return self._items.pop(self._key(app, user_id, session_id, name), None) is not None

    async def __aenter__(self) -> MemoryArtifactStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
