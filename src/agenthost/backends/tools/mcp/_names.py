"""Tool names as the model APIs accept them, and per-agent allow/deny filters.

OpenAI (and most OpenAI-compatible APIs) accept tool names matching ``^[a-zA-Z0-9_-]{1,64}$``,
so an MCP tool `get-time` of the server `clock` is offered as `clock__get-time`: the server
name, two underscores, the tool name, other characters replaced by `_`, and a name longer
than 64 characters cut with a short hash of the full name so that two long names stay apart.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Sequence

SEPARATOR = "__"
MAX_LENGTH = 64
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
_SERVER_NAME = re.compile(r"^[a-zA-Z0-9-]+(_[a-zA-Z0-9-]+)*$")


def server_name_problem(name: str) -> str | None:
    """Why `name` cannot name an MCP server (None when it can): the namespace prefix must be
    letters, digits, '-' and single '_' (a double '_' is the separator)."""
    if _SERVER_NAME.match(name) and len(name) <= 30:
        return None
    return (
        f"{name!r} is not a usable MCP server name: use at most 30 letters, digits, '-' and "
        f"single '_' (e.g. 'time' or 'my-files'); it prefixes the tool names the model sees"
    )


def namespaced(server: str, tool: str) -> str:
    """The name a model sees for `tool` of `server` (see the module docstring)."""
    name = _INVALID.sub("_", f"{server}{SEPARATOR}{tool}")
    if len(name) <= MAX_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_LENGTH - 9]}_{digest}"


def selected(tool: str, allow: Sequence[str] | None, deny: Sequence[str] | None) -> bool:
    """Whether `tool` (its MCP name) passes the filters: in `allow` (when given) and not in
    `deny`. Entries are names or shell patterns (`get_*`)."""
    if allow is not None and not any(fnmatch.fnmatchcase(tool, p) for p in allow):
        return False
    return not (deny and any(fnmatch.fnmatchcase(tool, p) for p in deny))
