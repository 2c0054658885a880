"""Deleting a session deletes its artifacts: every name the session owns (its uploads, its
spilled tool outputs, what its runs saved), never the user's `user:` ones, which every
session of the user shares."""

from __future__ import annotations

from agenthost.core.session import SessionKey
from agenthost.ports.artifacts import USER_PREFIX, ArtifactStore


async def delete_session_artifacts(store: ArtifactStore, key: SessionKey) -> list[str]:
    """Delete every version of every artifact of session `key`; the names deleted."""
    found = await store.list(app=key.app, user_id=key.user_id, session_id=key.session_id)
    names = [info.name for info in found if not info.name.startswith(USER_PREFIX)]
    for name in names:
        await store.delete(app=key.app, user_id=key.user_id, session_id=key.session_id, name=name)
    return names
