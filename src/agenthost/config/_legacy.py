"""Config files written for the single flat agent struct (before one struct per kind).

That struct let every agent carry the tool-loop settings of `kind: llm`; the remote and plugin
kinds ignored them without a word. Such a file still loads: each of those settings on a kind
that does not take it is dropped with a FutureWarning naming the file, line and field. Any other
setting a kind does not take is an error (see `_validate.py`).
"""

from __future__ import annotations

from typing import Any

from agenthost.config._types import Problem

KINDS_OF_THE_FLAT_STRUCT = ("dify", "coze", "bailian", "a2a", "plugin")
IGNORED_THEN = (
    "model",
    "instructions",
    "max_tool_rounds",
    "parallel_tools",
    "tool_timeout",
    "max_tool_result_chars",
    "history_max_messages",
    "history_max_tokens",
    "stream",
)


def drop_ignored_fields(raw: dict[str, Any]) -> list[Problem]:
    """Remove from `raw` the settings the flat struct accepted and its kind ignored; a note
    for each."""
    from agenthost.config.kinds import agent_kinds

    agents = raw.get("agents")
    if not isinstance(agents, dict):
        return []
    kinds = agent_kinds()
    notes: list[Problem] = []
    for name, entry in agents.items():
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in KINDS_OF_THE_FLAT_STRUCT or kind not in kinds:
            continue
        taken = kinds[kind].fields()
        for field in [f for f in IGNORED_THEN if f in entry and f not in taken]:
            del entry[field]
            notes.append(
                (
                    ("agents", name, field),
                    f"not a setting of kind {kind!r}; it was always ignored and is dropped "
                    f"now. Remove it: a future version will refuse it.",
                )
            )
    return notes
