"""The table of agent kinds in docs/config.md, made from the registry (built-in kinds only),
so the docs cannot go stale: a test compares it with the doc, and

    python -m agenthost.config.kinds._reference docs/config.md

rewrites it between the `<!-- kinds -->` and `<!-- /kinds -->` lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agenthost.config.kinds._base import AgentKindSpec

START = "<!-- kinds: generated from the registry by agenthost.config.kinds._reference -->"
END = "<!-- /kinds -->"
COMMON = ("kind", "description", "pricing", "budgets")


def built_in_kinds() -> list[AgentKindSpec]:
    from agenthost.config.kinds._registry import _builtin

    return [spec for specs, _ in _builtin() for spec in specs]


def _setting(spec: AgentKindSpec, name: str) -> str:
    import msgspec

    field = next(f for f in msgspec.structs.fields(spec.config) if f.encode_name == name)
    return f"`{name}`" + (" (required)" if field.required else "")


def reference_table() -> str:
    """One row per built-in kind: its name, what it is, and its settings besides `kind` and
    `description` (which every kind takes)."""
    rows = [
        "| kind | what it is | settings (besides `description`, `pricing`, `budgets`) |",
        "|---|---|---|",
    ]
    for spec in built_in_kinds():
        settings = ", ".join(_setting(spec, f) for f in spec.fields() if f not in COMMON)
        rows.append(f"| `{spec.name}` | {spec.summary} | {settings or '-'} |")
    return "\n".join(rows)


def section_of(text: str) -> str:
    """What stands between the markers in a doc."""
    start = text.index(START) + len(START)
    return text[start : text.index(END, start)].strip()


def rewrite(path: Path) -> bool:
    """Put the current table in the doc at `path`; True when it changed."""
    text = path.read_text(encoding="utf-8")
    old = section_of(text)
    new = reference_table()
    if old == new:
        return False
    start = text.index(START) + len(START)
    end = text.index(END, start)
    path.write_text(f"{text[:start]}\n{new}\n{text[end:]}", encoding="utf-8")
    return True


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    for arg in sys.argv[1:]:
        print(f"{arg}: {'updated' if rewrite(Path(arg)) else 'up to date'}")
