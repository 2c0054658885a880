"""The knowledge base HTTP API, in process: create, add (text and a file), search, delete.

Each user's bases are their own: bob gets 404 for alice's. Run with AGENTHOST_HOME set to a
scratch folder (the store is $AGENTHOST_HOME/knowledge.db).
"""

import asyncio
import base64

import httpx

from agenthost import LLMAgent, Runner, create_app, open_session_store
from agenthost.testing import ScriptedModel

KEYS = ["alice-secret-key-1:alice", "bob-secret-key-22:bob"]


async def main() -> None:
    async with open_session_store("memory://") as sessions:
        runner = Runner(LLMAgent(model=ScriptedModel([])), store=sessions)
        await serve(create_app(runner, api_keys=KEYS))


async def serve(app: object) -> None:
    transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        alice = httpx.AsyncClient(
            transport=transport,
            base_url="http://localhost",
            headers={"Authorization": "Bearer alice-secret-key-1"},
        )
        bob = httpx.AsyncClient(
            transport=transport,
            base_url="http://localhost",
            headers={"Authorization": "Bearer bob-secret-key-22"},
        )
        r = await alice.post("/v1/knowledge_bases", json={"name": "notes", "chunk_size": 500})
        print(r.status_code, r.json()["name"])
        page = (
            b"<html><body><h1>Wifi</h1><p>The guest wifi password is sunflower42.</p></body></html>"
        )
        r = await alice.post(
            "/v1/knowledge_bases/notes/documents",
            json={
                "documents": [
                    {"document": "parking.md", "text": "Parking is on level -2, bays 10 to 40."},
                    {"document": "wifi.html", "data_base64": base64.b64encode(page).decode()},
                    {"document": "empty.txt", "text": " "},
                ]
            },
        )
        print([(x["document"], x["status"]) for x in r.json()["results"]])
        r = await alice.post(
            "/v1/knowledge_bases/notes/search", json={"query": "guest wifi password", "top_k": 1}
        )
        print([(c["document"], c["index"]) for c in r.json()["chunks"]])
        r = await bob.post("/v1/knowledge_bases/notes/search", json={"query": "wifi"})
        print(r.status_code, r.json()["error"]["code"])
        r = await alice.delete("/v1/knowledge_bases/notes")
        print(r.status_code)
        await alice.aclose()
        await bob.aclose()


asyncio.run(main())
