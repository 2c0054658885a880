"""The run's knowledge bases, long-term memory and artifacts as plain async functions, which
each adapter hands its framework in that framework's own tool format.

Every function goes through the run's host API, so what it reaches is what the run is
granted and belongs to the run's user and session: `host.knowledge.retrieve` (the bases
granted to the run), `host.memory` (the run's user's memories, never another user's) and
`host.artifacts` (the run's session's files, and the user's `user:` ones). A refused call
(not granted, not found, too large) is the tool's answer, `error: ...`, which the model reads.

Each knowledge or memory search is also reported as a `knowledge.retrieved` result citing what
it found: the tools collect them in `found`, and the adapter yields them with the framework's
next event.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from agenthost.core.errors import AgentHostError
from agenthost.engine.retrieval import MEMORY_TOOL, TOOL_NAME, Retrieval, citation, format_chunks
from agenthost.ports.knowledge import KnowledgeBase
from agenthost.ports.protocol import ArtifactsAPI, HostAPI, KnowledgeRetrieved, RunResult

HostTool = Callable[..., Awaitable[str]]
SAVE_ARTIFACT = "save_artifact"
LOAD_ARTIFACT = "load_artifact"
LIST_ARTIFACTS = "list_artifacts"
MAX_ARTIFACT_CHARS = 20_000  # of an artifact's text a model reads

_SEARCH_DOC = """Search the knowledge base ({names}) for passages about a question. Returns
excerpts with the document each comes from.

Args:
    query: What to look for, e.g. "refund policy" or "opening hours Saturday".
"""
_MEMORY_DOC = """Recall earlier conversations with this user: returns notes from past sessions
about a topic.

Args:
    query: What to recall.
"""
_SAVE_DOC = """Save text as a file of this conversation (a new version if the name exists).

Args:
    name: The file's name, e.g. "notes/summary.md"; "user:..." keeps it for all of this
        user's conversations.
    content: The text to save.
"""
_LOAD_DOC = """Read a file saved in this conversation (its latest version).

Args:
    name: The file's name.
"""
_LIST_DOC = """List the files saved in this conversation, with their latest version."""
# each tool's description, for frameworks whose tools are made before the run
DOCS = {
    TOOL_NAME: _SEARCH_DOC.format(names="the agent's knowledge bases"),
    MEMORY_TOOL: _MEMORY_DOC,
    SAVE_ARTIFACT: _SAVE_DOC,
    LOAD_ARTIFACT: _LOAD_DOC,
    LIST_ARTIFACTS: _LIST_DOC,
}


def as_retrieval(knowledge: Retrieval | Sequence[KnowledgeBase] | None) -> Retrieval | None:
    """The adapter's `knowledge` option: a Retrieval as is (its mode is ignored: adapters
    search by tool), knowledge bases searched with the defaults, or None."""
    if knowledge is None or isinstance(knowledge, Retrieval):
        return knowledge
    bases = list(knowledge)
    return Retrieval(bases=bases, mode="tool") if bases else None


class RunTools:
    """The host tools of one run (see the module docstring). `retrieval`: the knowledge bases
    `search_knowledge` searches (None: no such tool); `memory`: give `load_memory` (the best
    `memory_top_k` memories); `artifacts`: give `save_artifact`, `load_artifact` and
    `list_artifacts`."""

    def __init__(
        self,
        host: HostAPI,
        *,
        retrieval: Retrieval | None = None,
        memory: bool = False,
        memory_top_k: int = 3,
        artifacts: bool = False,
    ) -> None:
        self.host = host
        self.retrieval = retrieval
        self.memory = memory
        self.memory_top_k = memory_top_k
        self.artifacts = artifacts
        self.found: list[RunResult] = []  # knowledge.retrieved results not yet yielded

    def take_found(self) -> list[RunResult]:
        found, self.found = self.found, []
        return found

    def functions(self) -> list[HostTool]:
        """The tools this run is configured with, as async functions with typed parameters
        and a docstring (name, description, Google-style Args) that the frameworks read."""
        out: list[HostTool] = []
        if self.memory:
            out.append(_named(self.load_memory, MEMORY_TOOL, _MEMORY_DOC))
        if self.retrieval is not None:
            names = ", ".join(kb.id for kb in self.retrieval.bases)
            out.append(_named(self.search_knowledge, TOOL_NAME, _SEARCH_DOC.format(names=names)))
        if self.artifacts:
            out.append(_named(self.save_artifact, SAVE_ARTIFACT, _SAVE_DOC))
            out.append(_named(self.load_artifact, LOAD_ARTIFACT, _LOAD_DOC))
            out.append(_named(self.list_artifacts, LIST_ARTIFACTS, _LIST_DOC))
        return out

    # ---- the tools -------------------------------------------------------------------------

    async def search_knowledge(self, query: str) -> str:
        if self.retrieval is None:
            return "error: this agent has no knowledge bases"
        try:
            chunks, event = await self.retrieval.search(self.host, query)
        except AgentHostError as exc:
            return f"error: {exc.message}"
        self.found.append(event)
        return format_chunks(chunks) or "no passage in the knowledge base matches that query"

    async def load_memory(self, query: str) -> str:
        memory = self.host.memory
        if not self.memory or memory is None:
            return "error: this agent has no long-term memory"
        try:
            chunks = await memory.search(query, top_k=self.memory_top_k)
        except AgentHostError as exc:
            return f"error: {exc.message}"
        cited = [citation(c) for c in chunks]
        self.found.append(KnowledgeRetrieved(query=query, mode="memory", citations=cited))
        empty = "nothing in your memory of earlier conversations matches that"
        return format_chunks(chunks) or empty

    async def save_artifact(self, name: str, content: str) -> str:
        artifacts = self._artifacts()
        if isinstance(artifacts, str):
            return artifacts
        try:
            info = await artifacts.save(name, content.encode(), mime_type="text/plain")
        except AgentHostError as exc:
            return f"error: {exc.message}"
        return f"saved {info.name} (version {info.version}, {info.size} bytes): {info.ref}"

    async def load_artifact(self, name: str) -> str:
        artifacts = self._artifacts()
        if isinstance(artifacts, str):
            return artifacts
        try:
            found = await artifacts.load(name)
        except AgentHostError as exc:
            return f"error: {exc.message}"
        if found is None:
            return f"error: there is no file named {name!r}"
        text = found.text
        if len(text) > MAX_ARTIFACT_CHARS:
            return f"{text[:MAX_ARTIFACT_CHARS]}\n[... cut: {len(text)} characters in all]"
        return text

    async def list_artifacts(self) -> str:
        artifacts = self._artifacts()
        if isinstance(artifacts, str):
            return artifacts
        try:
            listed = await artifacts.list()
        except AgentHostError as exc:
            return f"error: {exc.message}"
        lines = [f"{i.name} (version {i.version}, {i.mime_type}, {i.size} bytes)" for i in listed]
        return "\n".join(lines) or "no files saved yet"

    def _artifacts(self) -> ArtifactsAPI | str:
        """The host's artifacts, or the error the tool answers."""
        if not self.artifacts or self.host.artifacts is None:
            return "error: this agent has no artifact store"
        return self.host.artifacts


def _named(method: Callable[..., Awaitable[str]], name: str, doc: str) -> HostTool:
    """A plain function (not a bound method) calling `method`, with `name` and `doc`: the
    frameworks read a tool's name, docstring and signature from the function."""

    @functools.wraps(method)
    async def tool(*args: Any, **kwargs: Any) -> str:
        result: str = await method(*args, **kwargs)
        return result

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = doc
    return tool
