"""docs/server.md lists every error code the server answers with, under the HTTP status it
answers it with: the errors raised at the edge, the codes the server writes itself, and the
run failures the OpenAI routes answer as HTTP errors."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import agenthost.server
from agenthost.core import errors as core_errors
from agenthost.core.errors import (
    AgentHostError,
    ConfigError,
    PluginErrorCode,
    RunCancelled,
    RunError,
    StoreError,
    UserError,
)
from agenthost.server import errors as server_errors
from agenthost.server.errors import _RUN_STATUS, ServiceUnavailable, run_failure_status, status_of

DOCS = Path(__file__).parents[3] / "docs" / "server.md"
SERVER = Path(agenthost.server.__file__).parent


def _tables() -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """(status, code) pairs of the two tables of the "Errors" section: HTTP errors, runs."""
    text = DOCS.read_text()
    section = text[text.index("### Errors") : text.index("### Disconnects")]
    http_part, _, run_part = section.partition("| status | run error `code` |")
    pairs: list[set[tuple[int, str]]] = []
    for part in (http_part, run_part):
        found: set[tuple[int, str]] = set()
        for line in part.splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) >= 2 and cells[0].isdigit():
                for code in re.findall(r"`([a-z_.]+)`", cells[1]):
                    found.add((int(cells[0]), code))
        pairs.append(found)
    return pairs[0], pairs[1]


def _subclasses(cls: type[AgentHostError]) -> list[type[AgentHostError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


def _edge_errors() -> list[type[AgentHostError]]:
    """The error classes a route can raise (their status comes from `status_of`)."""
    roots: list[type[AgentHostError]] = [UserError, ServiceUnavailable, StoreError, ConfigError]
    classes = [cls for root in roots for cls in _subclasses(root)] + [RunCancelled]
    modules = {core_errors.__name__, server_errors.__name__}
    return [
        c for c in classes if c.__module__ in modules and isinstance(c.__dict__.get("code"), str)
    ]


def _written_codes() -> set[tuple[int, str]]:
    """Codes the server writes itself: `error_body("code", ..., status=N)` and the request
    guard's `(status, "code", message)` refusals."""
    found: set[tuple[int, str]] = set()
    for path in SERVER.rglob("*.py"):
        source = path.read_text()
        for code, status in re.findall(r'error_body\(\s*"([a-z_]+)",[^)]*?status=(\d{3})', source):
            found.add((int(status), code))
        for status, code in re.findall(r'\(\s*(\d{3}),\s*"([a-z_]+)",', source):
            found.add((int(status), code))
    return found


def test_every_edge_error_is_documented_with_its_status() -> None:
    documented, _ = _tables()
    classes = _edge_errors()
    assert len(classes) >= 15
    for cls in classes:
        status = status_of(cls.__new__(cls))
        assert (status, cls.code) in documented, f"{status} {cls.code} ({cls.__name__})"


def test_every_code_the_server_writes_is_documented() -> None:
    documented, _ = _tables()
    written = _written_codes()
    expected = {"invalid_json", "unsupported_media_type", "headers_too_large", "local_only"}
    assert expected <= {code for _, code in written}
    missing = written - documented - {(0, "")}
    assert not missing, f"not in docs/server.md: {sorted(missing)}"


def test_every_run_failure_status_is_documented() -> None:
    _, documented = _tables()
    codes = set(_RUN_STATUS) | set(typing.get_args(PluginErrorCode)) | {"server_error"}
    codes |= {c.code for c in _subclasses(RunError) if isinstance(c.__dict__.get("code"), str)}
    for code in codes:
        assert (run_failure_status(code), code) in documented, code
    assert (500, "plugin.timeout") not in documented  # a plugin timeout is a 504
