"""Ingesting many documents: each one read, chunked, embedded and stored on its own, so one
that fails (unsupported type, empty, corrupt PDF, an unreachable URL) is reported and the rest
are still ingested.

A source is a document id, a loader for its text and its metadata. Files and folders become
sources here (a folder: every file under it, hidden ones skipped); URL sources are made by the
caller, which holds the web fetcher (backends do not import each other).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenthost.backends.knowledge._text import read_file
from agenthost.backends.knowledge.store import KnowledgeStore
from agenthost.core.errors import DocumentError, KnowledgeUnavailable

Progress = Callable[[int, int, str], None]  # (done, total, document just finished)


@dataclass(frozen=True, slots=True)
class Source:
    document: str
    load: Callable[[], Awaitable[str]]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class IngestReport:
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (document, reason)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        text = (
            f"{self.added} added, {self.replaced} replaced, {self.unchanged} unchanged "
            f"({self.chunks} chunks)"
        )
        return text + (f"; {len(self.failed)} failed" if self.failed else "")


def file_source(path: Path, document: str | None = None) -> Source:
    name = document or path.as_posix()

    async def load() -> str:
        return read_file(path)

    return Source(name, load, {"source": name, "type": path.suffix.lower().lstrip(".")})


def file_sources(paths: Iterable[Path], *, relative_to: Path | None = None) -> list[Source]:
    """A source per file: a folder gives every file under it (hidden ones skipped). Document
    ids are the paths as given (or relative to `relative_to`), in '/' form."""
    sources: list[Source] = []
    for path in paths:
        files = (
            sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if path.is_dir()
            else [path]
        )
        for file in files:
            name = file
            if relative_to is not None:
                try:
                    name = file.resolve().relative_to(relative_to.resolve())
                except ValueError:
                    name = file
            sources.append(file_source(file, name.as_posix()))
    return sources


def missing_source(document: str, reason: str) -> Source:
    """A source that fails with `reason` (a path that does not exist, say): reported with
    the others instead of stopping the batch."""

    async def load() -> str:
        raise DocumentError(document, reason)

    return Source(document, load)


async def ingest(
    store: KnowledgeStore,
    owner: str,
    name: str,
    sources: Sequence[Source],
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """Add every source to the base; failures are collected, not raised (except when the
    embedding endpoint is down: then nothing more can be ingested, and that is raised)."""
    await store.get(owner, name)  # KnowledgeBaseNotFound before any work
    report = IngestReport()
    for done, source in enumerate(sources, 1):
        try:
            text = await source.load()
            result = await store.add(owner, name, source.document, text, source.metadata)
        except DocumentError as exc:
            report.failed.append((source.document, exc.reason))
        except KnowledgeUnavailable:
            raise
        else:
            report.chunks += result.chunks
            if result.status == "added":
                report.added += 1
            elif result.status == "replaced":
                report.replaced += 1
            else:
                report.unchanged += 1
        if progress is not None:
            progress(done, len(sources), source.document)
    return report
