"""/v1/knowledge_bases: per user, per-document results, search, and 404 for others' bases."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.unit.backends.knowledge.pdfs import text_pdf

from .conftest import Users


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path / "home"))


async def test_create_add_search_delete(users: Users) -> None:
    r = await users.alice.post("/v1/knowledge_bases", json={"name": "notes", "chunk_size": 300})
    assert r.status_code == 201, r.text
    assert r.json()["chunk_size"] == 300
    docs = [
        {"document": "wifi.md", "text": "The office wifi password is sunflower42."},
        {
            "document": "guide.pdf",
            "data_base64": base64.b64encode(text_pdf("Parking is on level -2.")).decode(),
        },
        {"document": "empty.txt", "text": "   "},
        {"document": "broken.pdf", "data_base64": base64.b64encode(b"%PDF-1.4 nonsense").decode()},
        {"document": "image.png", "data_base64": base64.b64encode(b"\x89PNG").decode()},
    ]
    r = await users.alice.post("/v1/knowledge_bases/notes/documents", json={"documents": docs})
    assert r.status_code == 200, r.text
    body = r.json()
    statuses = {x["document"]: x["status"] for x in body["results"]}
    assert statuses == {
        "wifi.md": "added",
        "guide.pdf": "added",
        "empty.txt": "failed",
        "broken.pdf": "failed",
        "image.png": "failed",
    }
    assert body["failed"] == 3
    errors = {x["document"]: x.get("error", "") for x in body["results"]}
    assert "unsupported type" in errors["image.png"] and "PDF" in errors["broken.pdf"]
    r = await users.alice.post(
        "/v1/knowledge_bases/notes/search", json={"query": "where can I park", "top_k": 1}
    )
    assert r.status_code == 200, r.text
    [chunk] = r.json()["chunks"]
    assert (chunk["document"], chunk["index"]) == ("guide.pdf", 0)
    r = await users.alice.get("/v1/knowledge_bases/notes")
    assert [d["document"] for d in r.json()["documents"]] == ["guide.pdf", "wifi.md"]
    r = await users.alice.delete("/v1/knowledge_bases/notes/documents/guide.pdf")
    assert r.json()["chunks_removed"] == 1
    assert (await users.alice.delete("/v1/knowledge_bases/notes")).status_code == 204
    assert (await users.alice.get("/v1/knowledge_bases")).json() == {"knowledge_bases": []}


async def test_another_users_base_is_not_found(users: Users) -> None:
    await users.alice.post("/v1/knowledge_bases", json={"name": "private"})
    await users.alice.post(
        "/v1/knowledge_bases/private/documents",
        json={"documents": [{"document": "a.md", "text": "alice's secret plans"}]},
    )
    for method, path, body in [
        ("GET", "/v1/knowledge_bases/private", None),
        ("POST", "/v1/knowledge_bases/private/search", {"query": "secret"}),
        ("POST", "/v1/knowledge_bases/private/documents", {"documents": [{"text": "x"}]}),
        ("DELETE", "/v1/knowledge_bases/private/documents/a.md", None),
        ("DELETE", "/v1/knowledge_bases/private", None),
    ]:
        r = await users.bob.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "knowledge_base_not_found"
    assert (await users.bob.get("/v1/knowledge_bases")).json() == {"knowledge_bases": []}
    # bob may have a base of the same name: it is his own
    assert (
        await users.bob.post("/v1/knowledge_bases", json={"name": "private"})
    ).status_code == 201
    r = await users.bob.post("/v1/knowledge_bases/private/search", json={"query": "secret"})
    assert r.json() == {"chunks": []}
    r = await users.alice.post("/v1/knowledge_bases", json={"name": "private"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "knowledge_base_exists"


async def test_bad_input(users: Users) -> None:
    r = await users.alice.post("/v1/knowledge_bases", json={"name": "bad name!"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "name"
    await users.alice.post("/v1/knowledge_bases", json={"name": "kb"})
    r = await users.alice.post(
        "/v1/knowledge_bases/kb/documents",
        json={"documents": [{"document": "x", "text": "a", "url": "http://x"}]},
    )
    assert r.status_code == 400 and "exactly one" in r.json()["error"]["message"]
    assert (await users.anonymous.get("/v1/knowledge_bases")).status_code == 401


async def test_memory_is_per_user(users: Users) -> None:
    r = await users.alice.post(
        "/v1/apps/helper/runs", json={"message": "my locker code is 4711", "stream": False}
    )
    assert r.status_code == 200, r.text
    session_id = r.json()["session_id"]
    # bob cannot remember alice's session: it is not among his
    r = await users.bob.post("/v1/memory", json={"agent": "helper", "session_id": session_id})
    assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
    r = await users.alice.post("/v1/memory", json={"agent": "helper", "session_id": session_id})
    assert r.status_code == 201, r.text
    memory_id = r.json()["id"]
    assert memory_id == f"test/helper/{session_id}" and r.json()["chunks"] == 1
    r = await users.alice.post("/v1/memory/search", json={"query": "locker code"})
    [chunk] = r.json()["chunks"]
    assert "user: my locker code is 4711" in chunk["text"] and chunk["document"] == memory_id
    assert (await users.bob.post("/v1/memory/search", json={"query": "locker"})).json() == {
        "chunks": []
    }
    assert (await users.bob.get("/v1/memory")).json() == {"memories": []}
    assert [m["id"] for m in (await users.alice.get("/v1/memory")).json()["memories"]] == [
        memory_id
    ]
    r = await users.bob.delete(f"/v1/memory/{memory_id}")
    assert r.status_code == 400 and r.json()["error"]["field"] == "memory_id"
    r = await users.alice.delete(f"/v1/memory/{memory_id}")
    assert r.json() == {"id": memory_id, "chunks_removed": 1}
    assert (await users.alice.get("/v1/memory")).json() == {"memories": []}
