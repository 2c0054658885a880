"""HTTP errors: every error is a JSON body with a stable `code`.

The errors only the HTTP edge raises live here, under the tree of `agenthost.core.errors`::

    AgentHostError
    ├── UserError
    │   ├── Unauthorized          401  no API key, or an unknown one
    │   ├── Forbidden             403  the key may not do this (e.g. act as another user)
    │   ├── AgentNotFound         404  no agent (app / model) by that name
    │   ├── RouteNotFound         404  no such route
    │   ├── ResponseNotFound      404  an unknown previous_response_id
    │   ├── RunFinished           409  cancel of a run that has ended
    │   └── PayloadTooLarge       413  the request body is over the server's limit
    └── ServiceUnavailable        503  the server is shutting down

The request guard (`_guard`) answers before any route: 403 `host_not_allowed`, `local_only`,
`cross_site`; 415 `unsupported_media_type`; 431 `headers_too_large`. docs/server.md lists every
code and status (a test checks it).

The body is `{"error": {"code", "message", "type", "field"?, "param"?}}`: `field` (and `param`,
its OpenAI name) names the bad input; `type` is the OpenAI-style error category, so the OpenAI
SDKs raise the right exception class.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from agenthost.core.errors import (
    AgentHostError,
    ApprovalAnswered,
    ApprovalForbidden,
    ApprovalNotFound,
    ApprovalRunFinished,
    ArtifactNotFound,
    BudgetExceeded,
    ConfigError,
    KnowledgeBaseExists,
    KnowledgeBaseNotFound,
    KnowledgeUnavailable,
    RateLimited,
    RunCancelled,
    RunNotFound,
    SessionBusy,
    SessionExists,
    SessionNotFound,
    StoreError,
    UserError,
    did_you_mean,
)


class ArtifactsDisabled(UserError):
    code = "artifacts_disabled"

    def __init__(self, agent: str) -> None:
        super().__init__(
            f"The agent {agent!r} keeps no artifacts: its runner has no artifact store (set "
            f"artifacts.url in agenthost.yaml, or give Runner(artifacts=...); see "
            f"docs/artifacts.md)."
        )


class Unauthorized(UserError):
    code = "unauthorized"


class Forbidden(UserError):
    code = "forbidden"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AgentNotFound(UserError):
    code = "agent_not_found"

    def __init__(self, name: str, known: list[str], *, field: str = "agent") -> None:
        super().__init__(
            f"No agent named {name!r}.{did_you_mean(name, known)} Agents on this server: "
            f"{', '.join(known) or '(none)'} (GET /v1/apps or /v1/models lists them)."
        )
        self.field = field


class RouteNotFound(UserError):
    code = "not_found"


class ResponseNotFound(UserError):
    code = "response_not_found"

    def __init__(self, response_id: str) -> None:
        super().__init__(
            f"Response {response_id[:300]!r} was not found among your sessions: it was made "
            f"by another key, its session was deleted, or it is not an id of this server."
        )
        self.field = "previous_response_id"


class RunFinished(UserError):
    code = "run_finished"

    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(f"Run {run_id!r} has already ended ({status}); nothing to cancel.")
        self.run_id = run_id


class PayloadTooLarge(UserError):
    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The request body is larger than this server's limit of {limit} bytes. Send less, "
            f"or raise server.max_body_bytes."
        )


class ServiceUnavailable(AgentHostError):
    code = "unavailable"
    retryable = True


_STATUS: list[tuple[type[AgentHostError], int]] = [
    (Unauthorized, 401),
    (Forbidden, 403),
    (ApprovalForbidden, 403),
    (ApprovalAnswered, 409),
    (ApprovalRunFinished, 409),
    (SessionExists, 409),
    (KnowledgeBaseExists, 409),
    (SessionBusy, 409),
    (RunFinished, 409),
    (RunCancelled, 409),
    (PayloadTooLarge, 413),
    (BudgetExceeded, 402),
    (RateLimited, 429),
    (SessionNotFound, 404),
    (KnowledgeBaseNotFound, 404),
    (RunNotFound, 404),
    (ApprovalNotFound, 404),
    (ArtifactNotFound, 404),
    (ArtifactsDisabled, 404),
    (AgentNotFound, 404),
    (RouteNotFound, 404),
    (ResponseNotFound, 404),
    (UserError, 400),
    (ServiceUnavailable, 503),
    (KnowledgeUnavailable, 503),
    (StoreError, 503),
    (ConfigError, 500),
]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    415: "invalid_request_error",
    431: "invalid_request_error",
    422: "invalid_request_error",
    503: "service_unavailable_error",
}

# a run that ended badly, answered without a stream (OpenAI routes): its error code -> status
# (docs/server.md, "Errors", lists them; any other code is a 500)
_RUN_STATUS = {
    "cancelled": 409,
    "interrupted": 409,
    "session_busy": 409,
    "deadline_exceeded": 504,
    "model_timeout": 504,
    "tool_timeout": 504,
    "plugin.timeout": 504,
    "model_http_error": 502,
    "model_unavailable": 502,
    "model_bad_response": 502,
    "model_error": 502,
    "model_input_unsupported": 400,
    "plugin.crashed": 502,
    "plugin.unavailable": 502,
    "plugin.protocol_error": 502,
}


def status_of(exc: AgentHostError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def run_failure_status(code: str) -> int:
    """The HTTP status of a run that failed with `code`, when the answer is not a stream."""
    return _RUN_STATUS.get(code, 500)


def error_body(
    code: str, message: str, *, status: int, field: str | None = None, retryable: bool = False
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "type": _TYPES.get(status, "server_error"),
    }
    if field is not None:
        error["field"] = field
        error["param"] = field
    if retryable:
        error["retryable"] = True
    return {"error": error}


_FIELDS: list[tuple[type[AgentHostError], str]] = [
    (SessionNotFound, "session_id"),
    (SessionBusy, "session_id"),
    (RunNotFound, "run_id"),
    (RunFinished, "run_id"),
]


def field_of(exc: AgentHostError) -> str | None:
    field = getattr(exc, "field", None)
    if isinstance(field, str):
        return field
    for cls, name in _FIELDS:
        if isinstance(exc, cls):
            return name
    return None


def retry_after_header(exc: AgentHostError) -> dict[str, str] | None:
    """`Retry-After` (whole seconds, rounded up) for an error that says when to retry."""
    seconds = getattr(exc, "retry_after", None)
    if not isinstance(seconds, int | float) or seconds < 0:
        return None
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def encode_error(exc: AgentHostError) -> tuple[int, bytes]:
    status = status_of(exc)
    body = error_body(
        exc.code, exc.message, status=status, field=field_of(exc), retryable=exc.retryable
    )
    return status, orjson.dumps(body)
