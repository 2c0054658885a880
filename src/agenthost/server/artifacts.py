"""The native API's artifact routes: a session's versioned files, per user.

    GET    /v1/apps/{agent}/sessions/{sid}/artifacts                  the newest version of
                                                                       each (the session's and
                                                                       the user's `user:` ones)
    POST   /v1/apps/{agent}/sessions/{sid}/artifacts/{name}           save a new version:
                                                                       {data: base64,
                                                                       mime_type?, metadata?}
                                                                       -> 201
    GET    /v1/apps/{agent}/sessions/{sid}/artifacts/{name}           the bytes (?version=N)
    DELETE /v1/apps/{agent}/sessions/{sid}/artifacts/{name}           every version -> 204
    GET    /v1/apps/{agent}/sessions/{sid}/artifact-versions/{name}   its versions

`name` may contain '/' (`uploads/cat.png`). The session must be the caller's (another user's
session is not found, as on the session routes) and the store is always asked for the
caller's own user id. Downloads are served as attachments with `nosniff` and a sandbox CSP, so
an uploaded HTML file never runs as a page of this origin. An upload is JSON like every
state-changing request (the request guard's CSRF rule) and bounded by the server's
`max_body_bytes`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from agenthost.core.errors import ArtifactNotFound
from agenthost.engine.runner import Runner
from agenthost.ports.artifacts import ArtifactStore, check_name
from agenthost.server._attachments import decode_base64, guess_mime
from agenthost.server.errors import ArtifactsDisabled
from agenthost.server.native import AgentName, SessionPath, json_response
from agenthost.server.state import ServerState, State, Who

api = APIRouter(prefix="/v1/apps", tags=["artifacts"])


class SaveArtifact(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    data: Annotated[str, Field(description="The bytes, base64.")]
    mime_type: Annotated[
        str | None, Field(max_length=200, description="Default: guessed from the name.")
    ] = None
    metadata: dict[str, Any] | None = None


NamePath = Annotated[str, Path(description="The artifact's name (may contain '/').")]


async def _owned(
    state: ServerState, who_id: str, agent: str, session_id: str, name: str | None = None
) -> tuple[Runner, ArtifactStore]:
    runner = state.runner(agent)
    if runner.artifacts is None:
        raise ArtifactsDisabled(agent)
    await runner.get_session(who_id, session_id)  # 404 unless it is this user's session
    if name is not None:
        check_name(name, "name")
    return runner, runner.artifacts


@api.get("/{agent}/sessions/{session_id}/artifacts", summary="A session's artifacts")
async def list_artifacts(
    who: Who, state: State, agent: AgentName, session_id: SessionPath
) -> Response:
    runner, store = await _owned(state, who.user_id, agent, session_id)
    found = await store.list(app=runner.app, user_id=who.user_id, session_id=session_id)
    return json_response({"artifacts": found})


@api.post(
    "/{agent}/sessions/{session_id}/artifacts/{name:path}",
    status_code=201,
    summary="Save a new version of an artifact ({data: base64, mime_type?, metadata?})",
)
async def save_artifact(
    who: Who,
    state: State,
    agent: AgentName,
    session_id: SessionPath,
    name: NamePath,
    body: SaveArtifact,
) -> Response:
    runner, store = await _owned(state, who.user_id, agent, session_id, name)
    data = decode_base64(body.data, "data")
    info = await store.save(
        app=runner.app,
        user_id=who.user_id,
        session_id=session_id,
        name=name,
        data=data,
        mime_type=body.mime_type or guess_mime(name),
        metadata={"source": "api", **(body.metadata or {})},
    )
    return json_response({"artifact": info, "ref": info.ref}, status=201)


@api.get(
    "/{agent}/sessions/{session_id}/artifacts/{name:path}",
    summary="An artifact's bytes (the newest version, or ?version=N)",
)
async def load_artifact(
    who: Who,
    state: State,
    agent: AgentName,
    session_id: SessionPath,
    name: NamePath,
    version: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    runner, store = await _owned(state, who.user_id, agent, session_id, name)
    found = await store.load(
        app=runner.app, user_id=who.user_id, session_id=session_id, name=name, version=version
    )
    if found is None:
        raise ArtifactNotFound(name, version)
    info = found.info
    filename = name.rsplit("/", 1)[-1].replace('"', "")
    return Response(
        found.data,
        media_type=info.mime_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "X-Artifact-Version": str(info.version),
        },
    )


@api.delete(
    "/{agent}/sessions/{session_id}/artifacts/{name:path}",
    status_code=204,
    summary="Delete an artifact (every version)",
)
async def delete_artifact(
    who: Who, state: State, agent: AgentName, session_id: SessionPath, name: NamePath
) -> Response:
    runner, store = await _owned(state, who.user_id, agent, session_id, name)
    if not await store.delete(
        app=runner.app, user_id=who.user_id, session_id=session_id, name=name
    ):
        raise ArtifactNotFound(name)
    return Response(status_code=204)


@api.get(
    "/{agent}/sessions/{session_id}/artifact-versions/{name:path}",
    summary="An artifact's versions, oldest first",
)
async def artifact_versions(
    who: Who, state: State, agent: AgentName, session_id: SessionPath, name: NamePath
) -> Response:
    runner, store = await _owned(state, who.user_id, agent, session_id, name)
    found = await store.versions(
        app=runner.app, user_id=who.user_id, session_id=session_id, name=name
    )
    if not found:
        raise ArtifactNotFound(name)
    return json_response({"versions": found})


def router(state: ServerState) -> APIRouter:
    return api


__all__ = ["router"]
