"""Every exception agenthost raises, in one place.

The tree::

    AgentHostError                       base of everything below; .code is a stable string
    ├── ConfigError                      a developer mistake in config or code (fix and restart)
    │   ├── UnknownProviderError         'provider:model' with an unknown provider
    │   ├── UnknownBackendError          store URL with an unknown scheme
    │   └── MissingExtraError            an optional dependency is not installed
    ├── UserError                        bad input from whoever calls us (a 4xx over HTTP)
    │   ├── InvalidArgument              a field has a bad value
    │   ├── SessionNotFound              no such session
    │   ├── SessionExists                a session with that id exists already
    │   ├── RunNotFound                  no such run
    │   ├── SessionBusy                  a run is active and the busy policy is 'reject'
    │   ├── ArtifactNotFound             no such artifact (or version) in the session
    │   ├── KnowledgeBaseNotFound        no such knowledge base (of this user)
    │   ├── KnowledgeBaseExists          a knowledge base with that name exists already
    │   ├── DocumentError                a document could not be read (type, empty, corrupt)
    │   ├── BudgetExceeded               a user or session spent its budget (HTTP 402)
    │   ├── RateLimited                  too many runs a minute (HTTP 429, Retry-After)
    │   └── ApprovalError                an answer to an approval request is refused
    │       ├── ApprovalNotFound         no such approval request
    │       ├── ApprovalForbidden        it belongs to another user's session
    │       ├── ApprovalAnswered         it was answered already
    │       └── ApprovalRunFinished      the run it paused is over (a newer message came)
    ├── RunError                         something went wrong while a run was going
    │   ├── ModelError                   a chat model call failed
    │   │   ├── ModelHTTPError           the endpoint answered with an error status
    │   │   ├── ModelTimeout             no answer in time
    │   │   ├── ModelUnavailable         connection refused / reset / DNS
    │   │   ├── ModelResponseError       the answer could not be understood
    │   │   └── ModelInputUnsupported    the model cannot take the message's images/files
    │   ├── ToolError                    a tool failed (the message goes back to the model)
    │   │   ├── ToolTimeout              a tool ran past its timeout
    │   │   └── SandboxUnavailable       run_code's sandbox cannot run here (bwrap, docker)
    │   ├── MaxToolRoundsExceeded        the agent used up max_tool_rounds
    │   ├── RunCancelled                 somebody cancelled the run
    │   ├── RunDeadlineExceeded          the run's deadline passed
    │   ├── RunInterrupted               a newer message interrupted the run
    │   ├── KnowledgeUnavailable         an embedding or rerank endpoint failed
    │   └── PluginError                  a plugin agent crashed, hung or broke the protocol
    ├── HostAPIError                     an agent's host API call was refused (.code below)
    ├── ChannelError                     a channel (agenthost.channels) failed
    │   ├── InvalidMessage               an incoming message failed validation (.field)
    │   └── DeliveryFailed               an output could not deliver a reply (.retryable)
    └── StoreError                       a session store failed
        └── BackendUnavailable           the store cannot be reached

Every message says what happened, which value, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from typing import Any, Literal

HostErrorCode = Literal[
    "unauthorized",
    "not_found",
    "deadline_exceeded",
    "payload_too_large",
    "rate_limited",
    "invalid_argument",
    "runtime_error",
]


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' when a known value is close to `value`, else ''."""
    match = get_close_matches(value, list(known), n=1, cutoff=0.6)
    return f" Did you mean {match[0]!r}?" if match else ""


class AgentHostError(Exception):
    """Base of every agenthost error."""

    code: str = "error"
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


# ---- developer mistakes -------------------------------------------------------------------


class ConfigError(AgentHostError):
    code = "config_error"


class UnknownProviderError(ConfigError):
    code = "unknown_provider"

    def __init__(self, provider: str, known: Iterable[str]) -> None:
        names = sorted(known)
        super().__init__(
            f"Unknown model provider {provider!r}.{did_you_mean(provider, names)} "
            f"Known providers: {', '.join(names)}. Write the model as 'provider:model', "
            f"e.g. 'openai:gpt-4o-mini', or declare a provider with a base_url in agenthost.yaml."
        )
        self.provider = provider
        self.known = names


class UnknownBackendError(ConfigError):
    code = "unknown_backend"

    # the extra that will provide a scheme, where its name differs from the scheme
    EXTRAS: Mapping[str, str] = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql"}

    def __init__(self, url: str, scheme: str, known: Iterable[str]) -> None:
        names = sorted(known)
        extra = self.EXTRAS.get(scheme, scheme)
        super().__init__(
            f"Unknown store scheme {scheme!r} in {redact_url(url)!r}.{did_you_mean(scheme, names)} "
            f"Registered schemes: {', '.join(names)}. Install the extra for it "
            f"(pip install 'agenthost[{extra}]') or register a factory."
        )
        self.scheme = scheme
        self.known = names


class MissingExtraError(ConfigError):
    code = "missing_extra"

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the Python package {module!r}, which is not installed. "
            f"Install it with: pip install 'agenthost[{extra}]'"
        )


# ---- bad input ----------------------------------------------------------------------------


class UserError(AgentHostError):
    code = "bad_request"


class InvalidArgument(UserError):
    code = "invalid_argument"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class SessionNotFound(UserError):
    code = "session_not_found"

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"Session {session_id!r} was not found. List sessions with "
            f"'agenthost sessions list' or start a new one."
        )
        self.session_id = session_id


class SessionExists(InvalidArgument):
    code = "session_exists"

    def __init__(self, app: str, user_id: str, session_id: str) -> None:
        super().__init__(
            "session_id",
            f"session {session_id!r} of user {user_id!r} in app {app!r} already exists. "
            f"Get it instead, delete it first, or pick a new id.",
        )
        self.session_id = session_id


class RunNotFound(UserError):
    code = "run_not_found"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Run {run_id!r} is not active on this runner (finished or unknown).")
        self.run_id = run_id


class ArtifactNotFound(UserError):
    code = "artifact_not_found"

    def __init__(self, name: str, version: int | None = None) -> None:
        which = f"version {version} of " if version is not None else ""
        super().__init__(
            f"No {which}artifact {name!r} in this session. List the session's artifacts "
            f"(GET .../artifacts) to see their names and versions."
        )
        self.name = name
        self.version = version


class SessionBusy(UserError):
    code = "session_busy"
    retryable = True

    def __init__(self, session_id: str, run_id: str | None) -> None:
        super().__init__(
            f"Session {session_id!r} already has an active run ({run_id}); the busy policy "
            f"is 'reject'. Wait for it to finish, cancel it, or use busy_policy='queue'."
        )
        self.session_id = session_id
        self.run_id = run_id


class BudgetExceeded(UserError):
    """A run refused before it started: the user (or session) has spent its budget for the
    period. `scope` is 'user' or 'session', `period` 'day', 'month' or 'total';
    `retry_after` is the seconds until the period ends (None for 'total')."""

    code = "budget_exceeded"

    def __init__(
        self,
        *,
        scope: str,
        subject: str,
        period: str,
        limit: float,
        spent: float,
        where: str,
        retry_after: float | None = None,
    ) -> None:
        when = {"day": " today (UTC)", "month": " this month (UTC)", "total": ""}[period]
        setting = "cost_total" if period == "total" else f"cost_per_{period}"
        if retry_after is not None:
            then = f"No more runs until it resets, in {_duration(retry_after)}."
        elif scope == "session":
            then = "Start a new session, or raise the limit."
        else:
            then = "Raise the limit to go on."
        super().__init__(
            f"The {scope} {subject!r} has spent ${spent:.4f}{when}; the budget of {where} is "
            f"${limit:g} (budgets.{scope}.{setting}). {then}"
        )
        self.scope = scope
        self.period = period
        self.limit = limit
        self.spent = spent
        self.retry_after = retry_after
        self.field = "session_id" if scope == "session" else "user_id"


class RateLimited(UserError):
    """A run refused before it started: more runs than `limit` a minute for this user (or
    session). `retry_after` is the seconds until one more is allowed."""

    code = "rate_limited"
    retryable = True

    def __init__(
        self, *, scope: str, subject: str, limit: int, where: str, retry_after: float
    ) -> None:
        super().__init__(
            f"The {scope} {subject!r} started {limit} runs in the last minute, the limit of "
            f"{where} (budgets.{scope}.runs_per_minute). Retry in {_duration(retry_after)}."
        )
        self.scope = scope
        self.limit = limit
        self.retry_after = retry_after
        self.field = "session_id" if scope == "session" else "user_id"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))}s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class ApprovalError(UserError):
    """An answer to an approval request (`Runner.answer_approval`) that cannot be taken
    (the subclasses' codes say why)."""

    def __init__(self, message: str, *, approval_id: str) -> None:
        super().__init__(message)
        self.approval_id = approval_id
        self.field = "approval_id"


class ApprovalNotFound(ApprovalError):
    code = "approval_not_found"

    def __init__(self, approval_id: str, session_id: str | None = None) -> None:
        where = f" in session {session_id!r}" if session_id else ""
        super().__init__(
            f"Approval {approval_id!r} was not found{where}. List the pending ones with "
            f"'agenthost approvals ls' or GET /v1/apps/AGENT/approvals.",
            approval_id=approval_id,
        )


class ApprovalForbidden(ApprovalError):
    code = "approval_forbidden"

    def __init__(self, approval_id: str) -> None:
        super().__init__(
            f"Approval {approval_id!r} belongs to another user's run; only that user can "
            f"answer it (an admin key may act as them with X-Agenthost-User).",
            approval_id=approval_id,
        )


class ApprovalAnswered(ApprovalError):
    code = "approval_already_answered"

    def __init__(self, approval_id: str, decision: str, by: str | None, run_id: str) -> None:
        who = f" by {by!r}" if by else ""
        super().__init__(
            f"Approval {approval_id!r} was already answered ({decision}{who}; run "
            f"{run_id!r} went on after it). An approval is answered once.",
            approval_id=approval_id,
        )
        self.decision = decision


class ApprovalRunFinished(ApprovalError):
    code = "approval_run_finished"

    def __init__(self, approval_id: str, run_id: str) -> None:
        super().__init__(
            f"Approval {approval_id!r} can no longer be answered: run {run_id!r}, which it "
            f"paused, is over (a newer message went on in the session, and the call was not "
            f"made). Ask the agent again.",
            approval_id=approval_id,
        )
        self.run_id = run_id


class KnowledgeBaseNotFound(UserError):
    code = "knowledge_base_not_found"

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        names = sorted(known)
        super().__init__(
            f"Knowledge base {name!r} was not found{did_you_mean(name, names) or '.'} "
            f"Yours: {', '.join(names) or '(none)'}. Create it with 'agenthost kb create {name}'."
        )
        self.name = name
        self.field = "kb"


class KnowledgeBaseExists(UserError):
    code = "knowledge_base_exists"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Knowledge base {name!r} already exists. Add documents to it, delete it first "
            f"('agenthost kb rm {name}'), or pick another name."
        )
        self.name = name
        self.field = "name"


class DocumentError(UserError):
    """One document could not be ingested; the others of the same batch still are."""

    code = "document_error"

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.field = "source"


# ---- failures during a run ----------------------------------------------------------------


class RunError(AgentHostError):
    code = "run_error"


class ModelError(RunError):
    code = "model_error"

    def __init__(self, message: str, *, model: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.model = model
        self.retryable = retryable


class ModelHTTPError(ModelError):
    code = "model_http_error"

    def __init__(
        self,
        *,
        model: str,
        status_code: int,
        body: str,
        retry_after: float | None = None,
        key_env: str | None = None,
    ) -> None:
        retryable = status_code in (408, 409, 429) or status_code >= 500
        key = f" ({key_env})" if key_env else ""
        hint = {
            401: f" Check the API key{key} for this provider.",
            403: " The key is not allowed to use this model.",
            404: " Check the model name and the provider's base_url.",
            429: " Rate limited: slow down or configure fallback models.",
        }.get(status_code, "")
        super().__init__(
            f"Model {model!r} answered HTTP {status_code}: {body[:500]}{hint}",
            model=model,
            retryable=retryable,
        )
        self.status_code = status_code
        self.body = body
        self.retry_after = retry_after


class ModelTimeout(ModelError):
    code = "model_timeout"

    def __init__(self, *, model: str, seconds: float | None) -> None:
        super().__init__(
            f"Model {model!r} did not answer within {seconds}s. Raise the model timeout "
            f"or check the endpoint.",
            model=model,
            retryable=True,
        )


class ModelUnavailable(ModelError):
    code = "model_unavailable"

    def __init__(self, *, model: str, detail: str) -> None:
        super().__init__(
            f"Cannot reach model {model!r}: {detail}. Check the provider's base_url and "
            f"that the server is running.",
            model=model,
            retryable=True,
        )


class ModelResponseError(ModelError):
    code = "model_bad_response"

    def __init__(self, *, model: str, detail: str) -> None:
        super().__init__(
            f"Model {model!r} sent a response that could not be understood: {detail}",
            model=model,
            retryable=True,
        )


class ToolError(RunError):
    code = "tool_error"

    def __init__(self, message: str, *, tool_name: str) -> None:
        super().__init__(message)
        self.tool_name = tool_name


class ToolTimeout(ToolError):
    code = "tool_timeout"

    def __init__(self, *, tool_name: str, seconds: float) -> None:
        super().__init__(
            f"Tool {tool_name!r} did not finish within {seconds}s and was stopped.",
            tool_name=tool_name,
        )
        self.seconds = seconds


class SandboxUnavailable(ToolError):
    """run_code cannot run code here: bubblewrap is missing, user namespaces are off, no
    Docker daemon answers. The message names the fix."""

    code = "sandbox_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(f"run_code: {message}", tool_name="run_code")


class MaxToolRoundsExceeded(RunError):
    code = "max_tool_rounds_exceeded"

    def __init__(self, max_tool_rounds: int) -> None:
        super().__init__(
            f"The agent used all {max_tool_rounds} tool rounds without a final answer. "
            f"Raise max_tool_rounds or simplify the task."
        )


MaxTurnsExceeded = MaxToolRoundsExceeded  # deprecated: the first name of MaxToolRoundsExceeded


class RunCancelled(RunError):
    code = "cancelled"

    def __init__(self, run_id: str, reason: str = "cancelled by request") -> None:
        super().__init__(f"Run {run_id} was cancelled: {reason}.")
        self.run_id = run_id


class RunDeadlineExceeded(RunError):
    code = "deadline_exceeded"
    retryable = True

    def __init__(self, run_id: str, seconds: float | None) -> None:
        super().__init__(f"Run {run_id} passed its deadline ({seconds}s) and was stopped.")
        self.run_id = run_id


class RunInterrupted(RunError):
    code = "interrupted"

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"Run {run_id} was interrupted: {reason}.")
        self.run_id = run_id


PluginErrorCode = Literal[
    "plugin.crashed", "plugin.timeout", "plugin.protocol_error", "plugin.unavailable"
]


class KnowledgeUnavailable(RunError):
    """An embedding or rerank endpoint failed. `fallback` holds the chunks that full-text
    search alone found (None when there is no fallback for this failure)."""

    code = "knowledge_unavailable"
    retryable = True

    def __init__(
        self, component: str, endpoint: str, reason: str, *, fallback: list[Any] | None = None
    ) -> None:
        super().__init__(
            f"The {component} endpoint {redact_url(endpoint)!r} failed: {reason}. Check that it "
            f"is up and its key is right; an agent with on_retrieval_error: fallback answers "
            f"from full-text search meanwhile."
        )
        self.component = component
        self.endpoint = endpoint
        self.fallback = fallback


class PluginError(RunError):
    """A plugin agent (another process) failed; `code` says how:

    - `plugin.crashed`: the process exited (or the HTTP stream ended) before the run finished;
    - `plugin.timeout`: no answer within the plugin agent's timeout;
    - `plugin.protocol_error`: it sent a frame that breaks agent protocol v1;
    - `plugin.unavailable`: it could not be started or reached.
    """

    def __init__(self, code: PluginErrorCode, message: str, *, plugin: str) -> None:
        super().__init__(f"Plugin {plugin!r}: {message}")
        self.code = code
        self.plugin = plugin
        self.retryable = code != "plugin.protocol_error"


class ModelInputUnsupported(ModelError):
    code = "model_input_unsupported"

    def __init__(self, *, model: str, kinds: Iterable[str], accepts: Iterable[str]) -> None:
        got = ", ".join(sorted(set(kinds)))
        takes = ", ".join(sorted(set(accepts)))
        super().__init__(
            f"Model {model!r} cannot take {got} input (it accepts: {takes}). Use a model "
            f"that accepts {got}, leave the attachment out, or set the model's "
            f"`unsupported_input: text` to send a text description instead.",
            model=model,
        )


# ---- host API refusals --------------------------------------------------------------------


class HostAPIError(AgentHostError):
    """A refused or failed host API call; `code` is one of HostErrorCode."""

    def __init__(
        self,
        code: HostErrorCode,
        message: str,
        *,
        retryable: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.details = dict(details or {})


# ---- stores -------------------------------------------------------------------------------


class StoreError(AgentHostError):
    code = "store_error"


class BackendUnavailable(StoreError):
    code = "backend_unavailable"
    retryable = True


class LeaseLost(StoreError):
    """A fenced append refused: another process took the session's lease (ports/leases.py)."""

    code = "lease_lost"

    def __init__(self, name: str, token: int, current: int | None = None) -> None:
        newer = f" (now {current})" if current is not None else ""
        super().__init__(
            f"The lease {name!r} (fencing token {token}) was taken by another process{newer}: "
            f"nothing was stored. The run lost its session; the new holder goes on with it. "
            f"If this happens often, raise lease_seconds (a run stalled longer than its lease)."
        )
        self.name = name
        self.token = token


# ---- channels -----------------------------------------------------------------------------


class ChannelError(AgentHostError):
    code = "channel_error"


class InvalidMessage(ChannelError):
    """An incoming channel message failed validation; `.field` names what is wrong."""

    code = "invalid_message"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class DeliveryFailed(ChannelError):
    """An output could not deliver a reply. `retryable` says whether trying again may help
    (a timeout, 429, 5xx); `retry_after` is the platform's hint in seconds, if it gave one."""

    code = "delivery_failed"

    def __init__(
        self, message: str, *, retryable: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def redact_url(url: str) -> str:
    """Hide the password in a URL such as postgresql://user:secret@host/db."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
