"""`knowledge:` (the store and its embedder) and `knowledge_bases:` (bases the agents use).

    knowledge:
      url: sqlite:///./knowledge.db     # default: follows store.url (config/store_urls.py):
                                        # its Postgres, or $AGENTHOST_HOME/knowledge.db
      embedding: local                  # or 'PROVIDER:MODEL', an OpenAI-compatible endpoint
    knowledge_bases:
      handbook:
        description: The staff handbook.
        sources: [docs/handbook/, https://example.com/faq.html]
        chunk_size: 800
        chunk_overlap: 100
    agents:
      helper:
        knowledge_bases: [handbook]
        retrieval: context              # or tool
        retrieval_top_k: 5
        rerank_model: local             # or 'PROVIDER:MODEL' (Cohere/Jina/vLLM rerank format)
        rerank_top_k: 3
        on_retrieval_error: fallback    # or fail

Bases declared here are shared by the app's agents (their owner is the app: `SHARED_OWNER`);
bases a user makes through `agenthost kb` or the HTTP API are that user's own. Declared
`sources` (files, folders, http(s) URLs; paths relative to the working directory) are
ingested when a runtime starts: unchanged documents are skipped, so a restart costs a hash.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from agenthost.config._types import PositiveFloat, PositiveInt, Problem
from agenthost.core.errors import ConfigError

if TYPE_CHECKING:
    from agenthost.backends.knowledge._embed import Embedder
    from agenthost.backends.knowledge.ingest import IngestReport, Progress, Source
    from agenthost.backends.knowledge.store import KnowledgeStore
    from agenthost.config.schema import AgentHostConfig
    from agenthost.engine.retrieval import MemoryUse, Retrieval
    from agenthost.ports.knowledge import Reranker

log = logging.getLogger("agenthost.knowledge")

SHARED_OWNER = ""  # the owner of the bases declared in the config (no user id is empty)
LOCAL = "local"


class _Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """As ConfigStruct (config/_types.py)."""


class KnowledgeConfig(_Struct):
    """Where knowledge bases are stored and how chunks are embedded. `embedding`: `local`
    (WordLlama, shipped in the wheel) or 'PROVIDER:MODEL' of an OpenAI-compatible
    `/embeddings` endpoint (a provider of `providers:` or a known one)."""

    url: str | None = None
    embedding: str = LOCAL
    timeout: PositiveFloat = 30.0  # seconds per embedding or rerank call


class KnowledgeBaseConfig(_Struct):
    """A knowledge base the agents share. `sources`: files, folders and http(s) URLs."""

    description: str = ""
    sources: list[str] = msgspec.field(default_factory=list)
    chunk_size: PositiveInt = 800
    chunk_overlap: int = 100


class AgentMemoryConfig(_Struct):
    """An agent's use of the user's long-term memory: `context` adds the `top_k` best
    memories before each turn, `tool` gives the model `load_memory(query)`, `auto_add`
    remembers each session after every completed run."""

    context: bool = True
    tool: bool = False
    auto_add: bool = True
    top_k: PositiveInt = 3


RetrievalMode = Literal["context", "tool"]
OnRetrievalError = Literal["fallback", "fail"]


def knowledge_problems(config: AgentHostConfig) -> list[Problem]:
    problems: list[Problem] = []
    for name, kb in config.knowledge_bases.items():
        if not 0 <= kb.chunk_overlap < kb.chunk_size:
            problems.append(
                (
                    ("knowledge_bases", name, "chunk_overlap"),
                    f"must be >= 0 and less than chunk_size ({kb.chunk_size})",
                )
            )
    spec = config.knowledge.embedding
    if spec != LOCAL and ":" not in spec:
        problems.append(
            (("knowledge", "embedding"), f"{spec!r}: write 'local' or 'PROVIDER:MODEL'")
        )
    return problems


def agent_knowledge_problems(
    bases: Sequence[str], rerank_model: str | None, config: AgentHostConfig
) -> list[Problem]:
    """Problems of an agent's knowledge settings (paths within the agent's entry)."""
    problems: list[Problem] = []
    from agenthost.core.errors import did_you_mean

    for i, name in enumerate(bases):
        if name not in config.knowledge_bases:
            known = list(config.knowledge_bases)
            problems.append(
                (
                    ("knowledge_bases", i),
                    f"{name!r} is not declared under knowledge_bases.{did_you_mean(name, known)} "
                    f"Declared: {', '.join(known) or '(none)'}.",
                )
            )
    if rerank_model is not None and rerank_model != LOCAL and ":" not in rerank_model:
        problems.append(
            (
                ("rerank_model",),
                f"{rerank_model!r}: write 'local' or 'PROVIDER:MODEL'",
            )
        )
    return problems


def knowledge_url(config: AgentHostConfig, home: Path) -> str:
    """`knowledge.url`, else where it follows `store.url` (config/store_urls.py)."""
    from agenthost.config.store_urls import knowledge_url as following

    return following(config, home)


def _endpoint(config: AgentHostConfig, spec: str, field: str) -> tuple[str, str, str | None]:
    from agenthost.backends.models.providers import resolve_provider
    from agenthost.config.kinds._builder import provider_settings

    provider, _, model = spec.partition(":")
    try:
        resolved = resolve_provider(
            provider,
            provider_settings(config).get(provider),
            known=provider_settings(config),
        )
    except ConfigError as exc:
        raise ConfigError(f"{field}: {exc.message}") from exc
    return model, resolved.base_url, resolved.api_key


def make_embedder(config: AgentHostConfig) -> Embedder:
    from agenthost.backends.knowledge._embed import HttpEmbedder, StaticEmbedder

    spec = config.knowledge.embedding
    if spec == LOCAL:
        return StaticEmbedder()
    model, base_url, key = _endpoint(config, spec, "knowledge.embedding")
    provider = spec.partition(":")[0]
    return HttpEmbedder(
        provider, model, base_url=base_url, api_key=key, timeout=config.knowledge.timeout
    )


def make_reranker(config: AgentHostConfig, spec: str, field: str) -> Reranker:
    from agenthost.backends.knowledge._embed import StaticEmbedder
    from agenthost.backends.knowledge._rerank import EmbeddedReranker, HttpReranker

    if spec == LOCAL:
        return EmbeddedReranker(StaticEmbedder())
    model, base_url, key = _endpoint(config, spec, field)
    provider = spec.partition(":")[0]
    return HttpReranker(
        provider, model, base_url=base_url, api_key=key, timeout=config.knowledge.timeout
    )


def make_store(config: AgentHostConfig, home: Path) -> KnowledgeStore:
    """The config's knowledge store, not opened yet."""
    from agenthost.backends.knowledge import open_knowledge_store

    url = knowledge_url(config, home)
    try:
        return open_knowledge_store(url, make_embedder(config))
    except ConfigError as exc:
        raise ConfigError(f"knowledge.url: {exc.message}") from exc


@asynccontextmanager
async def open_knowledge(
    config: AgentHostConfig, *, home: Path | None = None
) -> AsyncIterator[KnowledgeStore]:
    """The config's knowledge store, opened, and its declared bases created."""
    from agenthost.config.paths import home_dir

    store = make_store(config, home or home_dir())
    async with store:
        await create_declared(store, config, config.knowledge_bases)
        yield store


async def create_declared(
    store: KnowledgeStore, config: AgentHostConfig, bases: Iterable[str]
) -> None:
    """Make the declared knowledge bases named `bases` in `store` (the app's), if missing."""
    for name in bases:
        declared = config.knowledge_bases[name]
        await store.create(
            SHARED_OWNER,
            name,
            description=declared.description,
            chunk_size=declared.chunk_size,
            chunk_overlap=declared.chunk_overlap,
            exist_ok=True,
        )


def sources(specs: Sequence[str]) -> list[Source]:
    """Sources for paths (files, folders) and http(s) URLs, fetched with the web tools'
    fetcher (its SSRF policy: AGENTHOST_WEB_ALLOW_PRIVATE lets private addresses through)."""
    from agenthost.backends.knowledge.ingest import file_sources, missing_source

    found: list[Source] = []
    for spec in specs:
        if spec.startswith(("http://", "https://")):
            found.append(url_source(spec))
            continue
        path = Path(spec).expanduser()
        if not path.exists():
            found.append(missing_source(spec, "no such file or folder"))
            continue
        found.extend(file_sources([path]))
    return found


def url_source(url: str) -> Source:
    from agenthost.backends.knowledge.ingest import Source
    from agenthost.backends.tools.web import fetcher_from_env
    from agenthost.backends.tools.web.fetcher import FetchError
    from agenthost.core.errors import DocumentError

    async def load() -> str:
        try:
            text = await fetcher_from_env().fetch_text(url)
        except FetchError as exc:
            raise DocumentError(url, str(exc)) from None
        if not text.strip():
            raise DocumentError(url, "the page has no text")
        return text

    return Source(url, load, {"source": url, "type": "url"})


async def sync_declared(
    store: KnowledgeStore,
    config: AgentHostConfig,
    names: Sequence[str],
    *,
    progress: Progress | None = None,
) -> dict[str, IngestReport]:
    """Ingest the `sources` of the declared bases `names` (unchanged documents skipped)."""
    from agenthost.backends.knowledge.ingest import ingest

    reports: dict[str, IngestReport] = {}
    for name in names:
        declared = config.knowledge_bases[name]
        if not declared.sources:
            continue
        report = await ingest(
            store, SHARED_OWNER, name, sources(declared.sources), progress=progress
        )
        for document, reason in report.failed:
            log.warning("knowledge base %s: %s was not ingested: %s", name, document, reason)
        if report.added or report.replaced:
            log.info("knowledge base %s: %s", name, report.summary())
        reports[name] = report
    return reports


def retrieval_for(
    config: AgentHostConfig,
    agent: str,
    *,
    bases: Sequence[str],
    mode: RetrievalMode,
    top_k: int,
    rerank_model: str | None,
    rerank_top_k: int | None,
    on_error: OnRetrievalError,
) -> Retrieval:
    """The agent's retrieval over the declared `bases`: its store is opened, the bases made and
    their sources ingested when the agent is entered, and closed with it."""
    from agenthost.config.paths import home_dir
    from agenthost.engine.retrieval import Retrieval

    store = make_store(config, home_dir())
    reranker = (
        make_reranker(config, rerank_model, f"agents.{agent}.rerank_model")
        if rerank_model is not None
        else None
    )

    async def prepare() -> None:
        await store.open()
        try:
            await create_declared(store, config, bases)
            await sync_declared(store, config, bases)
        except BaseException:
            await store.aclose()
            raise

    async def close() -> None:
        await store.aclose()
        closer = getattr(reranker, "aclose", None)
        if closer is not None:
            await closer()

    return Retrieval(
        bases=[store.base(SHARED_OWNER, name) for name in bases],
        mode=mode,
        top_k=top_k,
        reranker=reranker,
        rerank_top_k=rerank_top_k,
        on_error=on_error,
        prepare=prepare,
        close=close,
    )


def memory_for(
    config: AgentHostConfig, settings: AgentMemoryConfig, on_error: OnRetrievalError
) -> MemoryUse:
    """The agent's memory: the knowledge store's per-user `_memory` bases (see
    backends/knowledge/memory_store.py), opened with the agent."""
    from agenthost.backends.knowledge.memory_store import KnowledgeMemory
    from agenthost.config.paths import home_dir
    from agenthost.engine.retrieval import MemoryUse

    store = make_store(config, home_dir())
    return MemoryUse(
        memory=KnowledgeMemory(store),
        context=settings.context,
        tool=settings.tool,
        auto_add=settings.auto_add,
        top_k=settings.top_k,
        on_error=on_error,
        prepare=store.open,
        close=store.aclose,
    )


__all__ = [
    "SHARED_OWNER",
    "AgentMemoryConfig",
    "KnowledgeBaseConfig",
    "KnowledgeConfig",
    "make_store",
    "open_knowledge",
    "sources",
    "sync_declared",
]
