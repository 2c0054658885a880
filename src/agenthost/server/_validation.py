"""FastAPI's request validation errors, as our JSON errors with the field named.

Malformed JSON is a 400 `invalid_json`; a well-formed body, query or header with a wrong or
missing value is a 422 `invalid_argument` whose `field` is the path of the first problem
(`message`, `parts.0.kind`, `limit`, `Last-Event-ID`).

`drop_tracebacks` is for the handler, once it has its answer: FastAPI raises a JSON error as
`RequestValidationError(...) from` the decoder's error, in a frame whose local is that
validation error, and the decoder's error's traceback holds that frame (the request, its
body): a reference cycle. Starlette clears the validation error's own traceback after the
response, not its cause's, so each bad request's frames were left for the cyclic collector,
which `agenthost serve` runs rarely (`cli/_serve.GC_THRESHOLDS`). Without the tracebacks
they are freed by reference counting when the request ends.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError

from agenthost.server.errors import error_body

_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "null"})


def _is_union_tag(part: Any) -> bool:
    """pydantic puts the member of a union in the location ('str', 'constrained-str',
    'list[PartIn]'); body field names never contain '-' or '['."""
    return isinstance(part, str) and (part in _TYPE_NAMES or "[" in part or "-" in part)


def _field(loc: tuple[Any, ...]) -> str:
    where, rest = (loc[0], loc[1:]) if loc else ("body", ())
    if where == "body":
        return ".".join(str(part) for part in rest if not _is_union_tag(part)) or "body"
    return ".".join(str(part) for part in rest) or str(where)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def drop_tracebacks(exc: BaseException) -> None:
    """Clear the traceback of `exc`, of its causes and contexts, and of exceptions its
    validation errors carry in their `ctx` (pydantic puts a validator's ValueError there)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        error = todo.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        error.__traceback__ = None
        todo.extend(e for e in (error.__cause__, error.__context__) if e is not None)
        if isinstance(error, RequestValidationError):
            for item in error.errors():
                ctx = item.get("ctx") if isinstance(item, dict) else None
                if isinstance(ctx, dict):
                    todo.extend(v for v in ctx.values() if isinstance(v, BaseException))


def validation_error(
    exc: RequestValidationError, content_type: str | None = None
) -> tuple[int, bytes]:
    errors = list(exc.errors())
    # the deepest problem: for a union (`message` is text or parts) the member that got furthest
    first: dict[str, Any] = max(errors, key=lambda e: len(e.get("loc") or ())) if errors else {}
    loc = tuple(first.get("loc") or ())
    field = _field(loc)
    if loc == ("body",) and first.get("type") != "missing" and not _is_json(content_type):
        message = (
            f"The body must be JSON sent with Content-Type: application/json "
            f"(got {content_type or 'no Content-Type'})."
        )
        return 415, orjson.dumps(
            error_body("unsupported_media_type", message, status=415, field="body")
        )
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        message = (
            f"The request body is not valid JSON ({detail})."
            if detail
            else ("The request body is not valid JSON.")
        )
        return 400, orjson.dumps(error_body("invalid_json", message, status=400, field="body"))
    if first.get("type") == "missing" and loc == ("body",):
        message = "A JSON body is required (Content-Type: application/json)."
    elif loc == ("body",):
        message = f"The body must be a JSON object, not {first.get('input')!r:.40}."
    else:
        message = f"{field}: {first.get('msg', 'invalid value')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problems)"
    return 422, orjson.dumps(error_body("invalid_argument", message, status=422, field=field))
