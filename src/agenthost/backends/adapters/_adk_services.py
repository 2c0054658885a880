"""ADK's memory and artifact services over the run's host API, so that ADK's own tools
(`load_memory`, `preload_memory`, `load_artifacts`) and a tool's `tool_context.search_memory`,
`save_artifact`, `load_artifact` and `list_artifacts` work against agenthost's stores.

A service is made for one run and bound to its host: the app, user and session ADK passes are
ignored, since `host.memory` is always the run's user's and `host.artifacts` the run's session's
(with the user's `user:` files, the same prefix ADK uses for user-scoped artifacts). Versions
count from 0, as in ADK. A call the run is not granted raises the host's HostAPIError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from google.adk.artifacts import BaseArtifactService
from google.adk.artifacts.base_artifact_service import ArtifactVersion, ensure_part
from google.adk.events import Event
from google.adk.memory import BaseMemoryService
from google.adk.memory.base_memory_service import SearchMemoryResponse
from google.adk.memory.memory_entry import MemoryEntry
from google.adk.sessions import Session
from google.genai import types

from agenthost.backends.adapters._host_tools import RunTools
from agenthost.core.errors import HostAPIError
from agenthost.engine.retrieval import citation
from agenthost.ports.artifacts import Artifact, ArtifactInfo
from agenthost.ports.protocol import ArtifactsAPI, KnowledgeRetrieved, MemoryAPI

T = TypeVar("T")
TEXT_PART = "adk_text_part"  # metadata of an artifact ADK saved as a text part


class HostMemoryService(BaseMemoryService):
    """ADK's memory service over `host.memory` (the run's user's long-term memory). A search
    is reported as a `knowledge.retrieved` result (mode `memory`)."""

    def __init__(self, tools: RunTools) -> None:
        self.tools = tools

    def _memory(self) -> MemoryAPI:
        return _required(self.tools.host.memory, "memory")

    async def add_session_to_memory(self, session: Session) -> None:
        await self.add_events_to_memory(
            app_name=session.app_name, user_id=session.user_id, events=session.events
        )

    async def add_events_to_memory(
        self,
        *,
        app_name: str,
        user_id: str,
        events: Sequence[Event],
        session_id: str | None = None,
        custom_metadata: Mapping[str, object] | None = None,
    ) -> None:
        text = transcript(events)
        if text:
            await self._memory().add(text, metadata=dict(custom_metadata or {}))

    async def add_memory(
        self,
        *,
        app_name: str,
        user_id: str,
        memories: Sequence[MemoryEntry],
        custom_metadata: Mapping[str, object] | None = None,
    ) -> None:
        for entry in memories:
            text = _text(entry.content)
            if text:
                metadata = {**entry.custom_metadata, **(custom_metadata or {})}
                await self._memory().add(text, metadata=metadata)

    async def search_memory(
        self, *, app_name: str, user_id: str, query: str
    ) -> SearchMemoryResponse:
        chunks = await self._memory().search(query, top_k=self.tools.memory_top_k)
        cited = [citation(c) for c in chunks]
        self.tools.found.append(KnowledgeRetrieved(query=query, mode="memory", citations=cited))
        return SearchMemoryResponse(
            memories=[
                MemoryEntry(
                    id=c.id,
                    content=types.Content(role="user", parts=[types.Part(text=c.text)]),
                    custom_metadata=dict(c.metadata),
                )
                for c in chunks
            ]
        )


class HostArtifactService(BaseArtifactService):
    """ADK's artifact service over `host.artifacts` (the run's session's files)."""

    def __init__(self, tools: RunTools) -> None:
        self.tools = tools

    def _artifacts(self) -> ArtifactsAPI:
        return _required(self.tools.host.artifacts, "artifact")

    async def save_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        artifact: types.Part | dict[str, Any],
        session_id: str | None = None,
        custom_metadata: dict[str, Any] | None = None,
    ) -> int:
        part = ensure_part(artifact)
        metadata = dict(custom_metadata or {})
        if part.inline_data is not None and part.inline_data.data is not None:
            data = part.inline_data.data
            mime_type = part.inline_data.mime_type or "application/octet-stream"
        elif part.text is not None:
            data, mime_type = part.text.encode(), "text/plain"
            metadata[TEXT_PART] = True
        else:
            raise HostAPIError(
                "invalid_argument",
                f"Artifact {filename!r}: only inline data or text can be saved, not a file "
                f"reference (file_data).",
            )
        saved = await self._artifacts().save(filename, data, mime_type=mime_type, metadata=metadata)
        return saved.version

    async def load_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
        version: int | None = None,
    ) -> types.Part | None:
        found = await self._artifacts().load(filename, version=version)
        return None if found is None else _part(found)

    async def list_artifact_keys(
        self, *, app_name: str, user_id: str, session_id: str | None = None
    ) -> list[str]:
        return sorted({info.name for info in await self._artifacts().list()})

    async def delete_artifact(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None
    ) -> None:
        await self._artifacts().delete(filename)

    async def list_versions(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None
    ) -> list[int]:
        return [info.version for info in await self._artifacts().versions(filename)]

    async def list_artifact_versions(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None
    ) -> list[ArtifactVersion]:
        return [_version(info) for info in await self._artifacts().versions(filename)]

    async def get_artifact_version(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
        version: int | None = None,
    ) -> ArtifactVersion | None:
        versions = await self._artifacts().versions(filename)
        if version is None:
            return _version(versions[-1]) if versions else None
        return next((_version(i) for i in versions if i.version == version), None)


def _required(capability: T | None, store: str) -> T:
    """The host's capability; a host without it refuses, as the host API does."""
    if capability is None:
        raise HostAPIError("unauthorized", f"This host has no {store} store.")
    return capability


def _part(artifact: Artifact) -> types.Part:
    info = artifact.info
    if info.metadata.get(TEXT_PART):
        return types.Part(text=artifact.text)
    return types.Part(inline_data=types.Blob(data=artifact.data, mime_type=info.mime_type))


def _version(info: ArtifactInfo) -> ArtifactVersion:
    return ArtifactVersion(
        version=info.version,
        canonical_uri=info.ref,
        custom_metadata={k: v for k, v in info.metadata.items() if k != TEXT_PART},
        create_time=info.created_at,
        mime_type=info.mime_type,
    )


def _text(content: types.Content | None) -> str:
    if content is None:
        return ""
    return "".join(p.text for p in content.parts or () if p.text and not p.thought)


def transcript(events: Sequence[Event]) -> str:
    """`author: text` paragraphs of the events that have text."""
    lines = [f"{e.author}: {text}" for e in events if (text := _text(e.content).strip())]
    return "\n\n".join(lines)
