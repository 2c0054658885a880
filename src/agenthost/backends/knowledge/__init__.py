"""Knowledge bases. `InMemoryKnowledgeBase` ranks documents by BM25 over words; vector and
database-backed bases plug in behind the same KnowledgeBase port."""

from agenthost.backends.knowledge.memory import InMemoryKnowledgeBase

__all__ = ["InMemoryKnowledgeBase"]
