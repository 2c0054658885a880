"""Model-facing history, derived from a session's events and cached per session.

Re-deriving the messages from every stored event before each model call made a turn grow with
the history (4.7x at 150 turns in the prototype). `HistoryCache` keeps, per session object, the
list of messages derived so far and only converts the events appended since.

Which events become messages: `message.received` (user), `message.completed` (assistant text
and tool calls) and `tool.call.completed` (tool results). An assistant tool call that never got
a result (a crashed or cancelled run) is closed with a synthetic error result, because
OpenAI-compatible APIs refuse a tool call without a result.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from agenthost.core.events import Event
from agenthost.core.messages import Message, ToolResultPart
from agenthost.core.session import Session, SessionKey

_MISSING_RESULT = "error: no result (the run stopped before this tool finished)"


class _Entry:
    __slots__ = ("first_id", "messages", "pending", "seen")

    def __init__(self, first_id: str | None) -> None:
        self.first_id = first_id
        self.seen = 0
        self.messages: list[Message] = []
        self.pending: dict[str, str] = {}  # open tool call id -> tool name


def _close_pending(entry: _Entry) -> None:
    for call_id, name in entry.pending.items():
        entry.messages.append(
            Message.tool(
                ToolResultPart(
                    tool_call_id=call_id, name=name, content=_MISSING_RESULT, is_error=True
                )
            )
        )
    entry.pending.clear()


def _feed(entry: _Entry, events: Sequence[Event]) -> None:
    for event in events:
        kind = event.type
        message = event.message
        if message is None:
            continue
        if kind == "tool.call.completed":
            for part in message.parts:
                if type(part) is ToolResultPart:
                    entry.pending.pop(part.tool_call_id, None)
            entry.messages.append(message)
        elif kind == "message.received" or kind == "message.completed":
            if entry.pending:
                _close_pending(entry)
            entry.messages.append(message)
            if kind == "message.completed":
                for call in message.tool_calls:
                    entry.pending[call.id] = call.name


class HistoryCache:
    """Per-session cache of derived messages (bounded, least recently used dropped)."""

    def __init__(self, max_sessions: int = 1024) -> None:
        self._entries: OrderedDict[SessionKey, _Entry] = OrderedDict()
        self._max = max_sessions

    def messages(self, session: Session) -> list[Message]:
        """All model-facing messages of `session`, oldest first (a fresh list)."""
        events = session.events
        key = session.key
        first_id = events[0].id if events else None
        entry = self._entries.get(key)
        if entry is None or entry.first_id != first_id or entry.seen > len(events):
            entry = _Entry(first_id)
            self._entries[key] = entry
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        if entry.seen < len(events):
            _feed(entry, events[entry.seen :])
            entry.seen = len(events)
        out = list(entry.messages)
        if entry.pending:
            # a run in progress has open calls; close them only in the copy we return
            pending = _Entry(None)
            pending.pending = dict(entry.pending)
            _close_pending(pending)
            out.extend(pending.messages)
        return out

    def forget(self, key: SessionKey) -> None:
        self._entries.pop(key, None)


def estimate_tokens(message: Message) -> int:
    """A cheap token estimate (about 4 characters a token)."""
    size = 4
    for part in message.parts:
        text = getattr(part, "text", None) or getattr(part, "content", None)
        if text:
            size += len(text) // 4
        args = getattr(part, "arguments", None)
        if args:
            size += len(args) // 4 + 4
    return size


def window(
    messages: list[Message], *, max_messages: int | None, max_tokens: int | None
) -> list[Message]:
    """The newest messages that fit both limits, starting at a user message when cut."""
    start = 0
    if max_messages is not None and len(messages) > max_messages:
        start = len(messages) - max_messages
    if max_tokens is not None:
        budget = max_tokens
        i = len(messages)
        while i > start:
            cost = estimate_tokens(messages[i - 1])
            if cost > budget:
                break
            budget -= cost
            i -= 1
        start = i
    if start == 0:
        return messages
    # never start with a tool result or an assistant turn: move to the next user message
    while start < len(messages) and messages[start].role != "user":
        start += 1
    if start >= len(messages):  # nothing fits: keep the last user message and what follows
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=0)
        return messages[last_user:]
    return messages[start:]
