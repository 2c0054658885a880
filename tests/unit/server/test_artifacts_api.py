"""The artifact routes (per user, like sessions) and attachments on the native and
OpenAI-compatible APIs: the model gets the bytes, the session keeps them as artifacts."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI

from agenthost.backends.artifacts import MemoryArtifactStore
from agenthost.backends.models._input import TEXT_ONLY
from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.backends.sessions import open_session_store
from agenthost.core.messages import FilePart, ImagePart, Message
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.ports.models import ToolSpec
from agenthost.server import create_app
from agenthost.testing.fake_openai import FakeOpenAIServer, TextReply
from agenthost.testing.scripted import FunctionModel

from .conftest import ALICE, BOB, KEYS, client_for

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(30))
B64 = base64.b64encode(PNG).decode()


async def describe(messages: list[Message], tools: list[ToolSpec]) -> str:
    """Says what the last user message held."""
    seen = []
    for part in messages[-1].parts:
        if isinstance(part, ImagePart | FilePart):
            size = len(part.data) if part.data is not None else "no"
            seen.append(f"{type(part).__name__} {part.mime_type} {size} bytes {part.url}")
    return "; ".join(seen) or "text only"


@pytest.fixture
async def app() -> AsyncIterator[Any]:
    async with open_session_store("memory://") as store:
        agent = LLMAgent(model=FunctionModel(describe, name="test:eyes"), name="eyes")
        runner = Runner(agent, store=store, app="t/eyes", artifacts=MemoryArtifactStore())
        made = create_app({"eyes": runner}, api_keys=KEYS)
        async with made.router.lifespan_context(made):
            yield made


@pytest.fixture
async def alice(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, ALICE) as client:
        yield client


@pytest.fixture
async def bob(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, BOB) as client:
        yield client


BASE = "/v1/apps/eyes/sessions"


async def test_save_list_load_versions_delete(alice: httpx.AsyncClient) -> None:
    assert (await alice.post(BASE, json={"session_id": "s1"})).status_code == 201
    url = f"{BASE}/s1/artifacts/notes/plan.md"
    first = await alice.post(url, json={"data": "IyB2MA==", "mime_type": "text/markdown"})
    assert first.status_code == 201
    assert first.json()["ref"] == "artifact://notes/plan.md?version=0"
    await alice.post(url, json={"data": "IyB2MQ=="})  # the mime type guessed from the name
    listed = (await alice.get(f"{BASE}/s1/artifacts")).json()["artifacts"]
    assert [(a["name"], a["version"], a["size"]) for a in listed] == [("notes/plan.md", 1, 4)]
    newest = await alice.get(url)
    assert newest.content == b"# v1"
    assert newest.headers["content-type"].startswith("text/markdown")
    assert newest.headers["x-content-type-options"] == "nosniff"
    assert newest.headers["content-security-policy"] == "sandbox"
    assert newest.headers["content-disposition"] == 'attachment; filename="plan.md"'
    assert (await alice.get(url, params={"version": 0})).content == b"# v0"
    versions = (await alice.get(f"{BASE}/s1/artifact-versions/notes/plan.md")).json()
    assert [v["version"] for v in versions["versions"]] == [0, 1]
    assert (await alice.delete(url)).status_code == 204
    gone = await alice.get(url)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "artifact_not_found"
    assert (await alice.delete(url)).status_code == 404


async def test_another_user_reaches_none_of_them(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    await alice.post(BASE, json={"session_id": "s1"})
    await alice.post(f"{BASE}/s1/artifacts/secret.txt", json={"data": "YWxpY2Uncw=="})
    for call in (
        bob.get(f"{BASE}/s1/artifacts"),
        bob.get(f"{BASE}/s1/artifacts/secret.txt"),
        bob.post(f"{BASE}/s1/artifacts/secret.txt", json={"data": "Ym9i"}),
        bob.delete(f"{BASE}/s1/artifacts/secret.txt"),
    ):
        response = await call
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "session_not_found"
    # bob's own session of the same id holds only bob's
    await bob.post(BASE, json={"session_id": "s1"})
    assert (await bob.get(f"{BASE}/s1/artifacts")).json() == {"artifacts": []}
    assert (await alice.get(f"{BASE}/s1/artifacts/secret.txt")).content == b"alice's"


async def test_bad_names_are_a_400_naming_the_field(alice: httpx.AsyncClient) -> None:
    await alice.post(BASE, json={"session_id": "s1"})
    response = await alice.post(f"{BASE}/s1/artifacts/a%2F..%2Fb", json={"data": "eA=="})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "name"


async def test_a_native_run_with_an_attachment(alice: httpx.AsyncClient) -> None:
    body = {
        "stream": False,
        "message": [
            {"kind": "text", "text": "what is this?"},
            {"kind": "image", "data": B64, "mime_type": "image/png"},
            {"kind": "file", "url": "data:text/csv;base64,YSxiCg==", "name": "t.csv"},
        ],
    }
    answer = (await alice.post("/v1/apps/eyes/runs", json=body)).json()
    assert answer["status"] == "completed", answer
    assert answer["output"] == (
        f"ImagePart image/png {len(PNG)} bytes artifact://uploads/image-1.png?version=0; "
        "FilePart text/csv 4 bytes artifact://uploads/t.csv?version=0"
    )
    listed = (await alice.get(f"{BASE}/{answer['session_id']}/artifacts")).json()["artifacts"]
    assert [a["name"] for a in listed] == ["uploads/image-1.png", "uploads/t.csv"]
    saved = await alice.get(f"{BASE}/{answer['session_id']}/artifacts/uploads/image-1.png")
    assert saved.content == PNG


@pytest.mark.parametrize(
    ("part", "field"),
    [
        ({"kind": "image", "data": "not base64!"}, "message.1.data"),
        ({"kind": "image", "url": "file:///etc/passwd"}, "message.1.url"),
        ({"kind": "file", "url": "data:text/plain,plain"}, "message.1.url"),
        ({"kind": "image"}, "message.1.url"),
    ],
)
async def test_bad_attachments_are_a_400_naming_the_field(
    alice: httpx.AsyncClient, part: dict[str, Any], field: str
) -> None:
    body = {"stream": False, "message": [{"kind": "text", "text": "hi"}, part]}
    response = await alice.post("/v1/apps/eyes/runs", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


def openai_client(app: Any) -> AsyncOpenAI:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver")
    return AsyncOpenAI(api_key=ALICE, base_url="http://testserver/v1", http_client=http)


async def test_openai_image_parts_reach_the_model_and_are_kept(app: Any) -> None:
    client = openai_client(app)
    reply = await client.chat.completions.create(
        model="eyes",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    {
                        "type": "file",
                        "file": {"file_data": "data:text/csv;base64,YSxiCg==", "filename": "t.csv"},
                    },
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == (
        f"ImagePart image/png {len(PNG)} bytes artifact://uploads/image-1.png?version=0; "
        "ImagePart image/png no bytes https://example.com/cat.jpg; "
        "FilePart text/csv 4 bytes artifact://uploads/t.csv?version=0"
    )
    await client.close()


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "image_url", "image_url": {"url": "ftp://host/x.png"}}, "data: URL"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "input_audio"),
        ({"type": "file", "file": {"file_id": "file-abc"}}, "file_id is not supported"),
    ],
)
async def test_openai_parts_we_cannot_take_are_a_400(
    app: Any, part: dict[str, Any], message: str
) -> None:
    async with client_for(app, ALICE) as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "eyes", "messages": [{"role": "user", "content": [part]}]},
        )
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    assert response.json()["error"]["param"].startswith("messages.0.content.0")


async def test_a_text_only_model_fails_the_run_with_a_clear_code() -> None:
    async with (
        FakeOpenAIServer([TextReply("never")]) as fake,
        open_session_store("memory://") as store,
    ):
        model = OpenAICompatibleModel("m", base_url=fake.base_url, input_policy=TEXT_ONLY)
        runner = Runner(LLMAgent(model=model, name="blind"), store=store, app="t/blind")
        app = create_app({"blind": runner}, api_keys=KEYS)
        async with app.router.lifespan_context(app), client_for(app, ALICE) as alice:
            body = {"stream": False, "message": [{"kind": "image", "data": B64}]}
            answer = (await alice.post("/v1/apps/blind/runs", json=body)).json()
    assert answer["status"] == "failed"
    assert answer["error"]["code"] == "model_input_unsupported"
    assert fake.bodies == []


async def test_an_agent_without_an_artifact_store_says_so() -> None:
    async with open_session_store("memory://") as store:
        agent = LLMAgent(model=FunctionModel(describe, name="test:eyes"), name="plain")
        runner = Runner(agent, store=store, app="t/plain")
        app = create_app({"plain": runner}, api_keys=KEYS)
        async with app.router.lifespan_context(app), client_for(app, ALICE) as alice:
            response = await alice.get("/v1/apps/plain/sessions/s1/artifacts")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "artifacts_disabled"


async def test_deleting_a_session_deletes_its_artifacts_not_the_users(
    alice: httpx.AsyncClient,
) -> None:
    for sid in ("s1", "s2"):
        assert (await alice.post(BASE, json={"session_id": sid})).status_code == 201
    await alice.post(f"{BASE}/s1/artifacts/notes/plan.md", json={"data": "IyB2MA=="})
    await alice.post(f"{BASE}/s1/artifacts/notes/plan.md", json={"data": "IyB2MQ=="})
    await alice.post(f"{BASE}/s1/artifacts/user:prefs.json", json={"data": "e30="})
    await alice.post(f"{BASE}/s2/artifacts/kept.txt", json={"data": "eA=="})
    assert (await alice.delete(f"{BASE}/s1")).status_code == 204
    # made again under the same id: none of the old session's files, the user's still there
    assert (await alice.post(BASE, json={"session_id": "s1"})).status_code == 201
    listed = (await alice.get(f"{BASE}/s1/artifacts")).json()["artifacts"]
    assert [a["name"] for a in listed] == ["user:prefs.json"]
    old = await alice.get(f"{BASE}/s1/artifacts/notes/plan.md", params={"version": 0})
    assert old.status_code == 404
    others = (await alice.get(f"{BASE}/s2/artifacts")).json()["artifacts"]
    assert sorted(a["name"] for a in others) == ["kept.txt", "user:prefs.json"]
