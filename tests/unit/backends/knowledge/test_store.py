"""The knowledge store contract, on SQLite and (integration) on the local Postgres."""

from __future__ import annotations

import pytest

from agenthost.backends.knowledge.store import KnowledgeStore, rrf
from agenthost.core.errors import (
    InvalidArgument,
    KnowledgeBaseExists,
    KnowledgeBaseNotFound,
)

DOCS = {
    "cats.md": "Cats are small furry animals. A cat purrs when it is content and likes fish.",
    "market.md": "The stock market crashed in October 1929, which began the Great Depression.",
    "bikes.md": "A bicycle has two wheels, pedals and a chain; riders should wear a helmet.",
}


async def _filled(store: KnowledgeStore, owner: str) -> None:
    await store.create(owner, "docs", chunk_size=300, chunk_overlap=30)
    for name, text in DOCS.items():
        await store.add(owner, "docs", name, text, {"topic": name.split(".")[0]})


async def test_hybrid_text_and_vector_search(kstore: KnowledgeStore, owner: str) -> None:
    await _filled(kstore, owner)
    try:
        for mode in ("hybrid", "text", "vector"):
            found = await kstore.search(owner, "docs", "stock market crash", mode=mode, top_k=2)
            assert found[0].document == "market.md", mode
            assert found[0].index == 0 and found[0].id == "market.md#0"
            assert found[0].metadata["kb"] == "docs"
        # a word only vectors relate to the text: the vector ranking finds it, full text not
        assert not await kstore.search(owner, "docs", "kitten", mode="text")
        assert (await kstore.search(owner, "docs", "kitten", mode="vector"))[0].document == (
            "cats.md"
        )
        assert (await kstore.search(owner, "docs", "kitten"))[0].document == "cats.md"
    finally:
        await kstore.delete(owner, "docs")


async def test_filters_and_top_k(kstore: KnowledgeStore, owner: str) -> None:
    await _filled(kstore, owner)
    try:
        found = await kstore.search(owner, "docs", "market", filters={"topic": "bikes"})
        assert [c.document for c in found] == ["bikes.md"]
        assert len(await kstore.search(owner, "docs", "animals wheels market", top_k=1)) == 1
        with pytest.raises(InvalidArgument, match="filters"):
            await kstore.search(owner, "docs", "x", filters={"bad key": 1})
        with pytest.raises(InvalidArgument, match="top_k"):
            await kstore.search(owner, "docs", "x", top_k=0)
    finally:
        await kstore.delete(owner, "docs")


async def test_readding_replaces_and_removing_deletes(kstore: KnowledgeStore, owner: str) -> None:
    await _filled(kstore, owner)
    try:
        same = await kstore.add(owner, "docs", "cats.md", DOCS["cats.md"], {"topic": "cats"})
        assert same.status == "unchanged"
        changed = await kstore.add(owner, "docs", "cats.md", "Parrots can learn many words.")
        assert changed.status == "replaced"
        assert not await kstore.search(owner, "docs", "purrs fish", mode="text")
        assert (await kstore.search(owner, "docs", "parrots"))[0].document == "cats.md"
        assert await kstore.remove(owner, "docs", "cats.md") == 1
        assert all(c.document != "cats.md" for c in await kstore.search(owner, "docs", "parrots"))
        info = await kstore.get(owner, "docs")
        assert (info.documents, info.chunks) == (2, 2)
        with pytest.raises(InvalidArgument, match="not in knowledge base"):
            await kstore.remove(owner, "docs", "cats.md")
    finally:
        await kstore.delete(owner, "docs")


async def test_another_users_base_is_not_found(kstore: KnowledgeStore, owner: str) -> None:
    await _filled(kstore, owner)
    try:
        other = owner + "-other"
        assert await kstore.bases(other) == []
        with pytest.raises(KnowledgeBaseNotFound):
            await kstore.search(other, "docs", "cats")
        with pytest.raises(KnowledgeBaseNotFound):
            await kstore.add(other, "docs", "x.md", "text")
        with pytest.raises(KnowledgeBaseNotFound):
            await kstore.delete(other, "docs")
        with pytest.raises(KnowledgeBaseExists):
            await kstore.create(owner, "docs")
        assert [b.name for b in await kstore.bases(owner)] == ["docs"]
    finally:
        await kstore.delete(owner, "docs")
    with pytest.raises(KnowledgeBaseNotFound):
        await kstore.get(owner, "docs")


async def test_names_are_checked(kstore: KnowledgeStore, owner: str) -> None:
    with pytest.raises(InvalidArgument, match="name"):
        await kstore.create(owner, "../etc")


def test_rrf_rewards_agreement() -> None:
    fused = rrf([[1, 2, 3], [3, 1, 4]])
    assert [item for item, _ in fused][:2] == [1, 3]
