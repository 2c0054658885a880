"""Model-facing history, derived from a session's events and cached per session.

Re-deriving the messages from every stored event before each model call made a turn grow with
the history (4.7x at 150 turns in the prototype). `HistoryCache` keeps, per session object, the
list of messages derived so far and only converts the events appended since.

Which events become messages: `message.received` (user), `message.completed` (assistant text
and tool calls) and `tool.call.completed` (tool results). An assistant tool call that never got
a result (a crashed or cancelled run) is closed with a synthetic error result, because
OpenAI-compatible APIs refuse a tool call without a result.

A `compaction.summary` event (engine/compaction.py) replaces the events it covers: from it on
the messages are its summary (one user message) followed by the messages of the events after
its `end_seq`. The covered events stay stored; only the model's view changes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

from agenthost.core.events import Event
from agenthost.core.messages import Message, ToolResultPart
from agenthost.core.session import Session, SessionKey

_MISSING_RESULT = "error: no result (the run stopped before this tool finished)"


_MESSAGE_OVERHEAD = 300  # bytes of objects per cached message (struct, parts, list slot)
SUMMARY_PREFIX = "Summary of the earlier conversation:\n"
SUMMARY_TYPE = "compaction.summary"


def summary_message(summary: str) -> Message:
    """The message a compaction summary stands as in the model's history."""
    return Message.user(SUMMARY_PREFIX + summary)


class HistoryView(NamedTuple):
    """The model-facing messages with, for each, the `seq` of the event it came from (a
    summary message has its `end_seq`), and the data of the summary they start with."""

    messages: list[Message]
    seqs: list[int]
    summary: dict[str, Any] | None


class _Entry:
    __slots__ = ("first_id", "messages", "pending", "seen", "seqs", "size", "summary")

    def __init__(self, first_id: str | None) -> None:
        self.first_id = first_id
        self.seen = 0
        self.size = 0  # approximate bytes of the messages this entry keeps alive
        self.messages: list[Message] = []
        self.seqs: list[int] = []  # the seq of each message's event
        self.pending: dict[str, str] = {}  # open tool call id -> tool name
        self.summary: dict[str, Any] | None = None  # data of the summary messages start with


def _close_pending(entry: _Entry, seq: int) -> None:
    for call_id, name in entry.pending.items():
        entry.messages.append(
            Message.tool(
                ToolResultPart(
                    tool_call_id=call_id, name=name, content=_MISSING_RESULT, is_error=True
                )
            )
        )
        entry.seqs.append(seq)
    entry.pending.clear()


def _closed(entry: _Entry, seq: int) -> _Entry:
    """The synthetic results that close the entry's open tool calls (a run in progress has
    some), in an entry of their own: they go only into the copy a caller gets."""
    closed = _Entry(None)
    closed.pending = dict(entry.pending)
    _close_pending(closed, seq)
    return closed


def _summarise(entry: _Entry, data: dict[str, Any]) -> None:
    """Replace the messages of the events up to `end_seq` by the summary."""
    end = int(data.get("end_seq", 0))
    keep = bisect_right(entry.seqs, end)
    while keep < len(entry.messages) and entry.messages[keep].role != "user":
        keep += 1  # never start after the summary with a tool result or an assistant turn
    entry.messages[:keep] = [summary_message(str(data.get("summary", "")))]
    entry.seqs[:keep] = [end]
    entry.summary = data
    entry.pending.clear()
    for message in entry.messages:
        for call in message.tool_calls:
            entry.pending[call.id] = call.name
    for message in entry.messages:
        for part in message.parts:
            if type(part) is ToolResultPart:
                entry.pending.pop(part.tool_call_id, None)


def _feed(entry: _Entry, events: Sequence[Event]) -> None:
    for event in events:
        kind = event.type
        message = event.message
        if message is None:
            if kind == SUMMARY_TYPE and event.data:
                _summarise(entry, event.data)
            continue
        if kind == "tool.call.completed":
            for part in message.parts:
                if type(part) is ToolResultPart:
                    entry.pending.pop(part.tool_call_id, None)
            entry.messages.append(message)
            entry.seqs.append(event.seq)
        elif kind == "message.received" or kind == "message.completed":
            if entry.pending:
                _close_pending(entry, event.seq)
            entry.messages.append(message)
            entry.seqs.append(event.seq)
            if kind == "message.completed":
                for call in message.tool_calls:
                    entry.pending[call.id] = call.name


def _resume_at(events: Sequence[Event]) -> int:
    """Where to start deriving a session's messages: at the first event after the range of
    its latest summary (0 when it has none), so a long compacted session loads in flat time."""
    for i in range(len(events) - 1, -1, -1):
        event = events[i]
        if event.type == SUMMARY_TYPE and event.data:
            end = int(event.data.get("end_seq", 0))
            j = i
            while j > 0 and events[j - 1].seq > end:
                j -= 1
            return j
    return 0


def message_size(message: Message) -> int:
    """Approximate bytes a message holds (its text, about 4 characters a token, + objects)."""
    return 4 * estimate_tokens(message) + _MESSAGE_OVERHEAD


class HistoryCache:
    """Per-session cache of derived messages, least recently used dropped: at most
    `max_sessions` sessions and about `max_bytes` of messages kept alive (a session whose
    history alone is larger is not kept after its call)."""

    def __init__(self, max_sessions: int = 1024, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._entries: OrderedDict[SessionKey, _Entry] = OrderedDict()
        self._max = max_sessions
        self._max_bytes = max_bytes
        self.size = 0  # approximate bytes held by all entries

    def messages(self, session: Session) -> list[Message]:
        """All model-facing messages of `session`, oldest first (a fresh list)."""
        entry = self._entry(session)
        out = list(entry.messages)
        if entry.pending:
            out.extend(_closed(entry, 0).messages)
        return out

    def view(self, session: Session) -> HistoryView:
        """The model-facing messages of `session` with their events' seqs (fresh lists)."""
        entry = self._entry(session)
        out = list(entry.messages)
        seqs = list(entry.seqs)
        if entry.pending:
            closed = _closed(entry, seqs[-1] if seqs else 0)
            out.extend(closed.messages)
            seqs.extend(closed.seqs)
        return HistoryView(out, seqs, entry.summary)

    def _entry(self, session: Session) -> _Entry:
        """The session's entry, brought up to date with its events (only the events appended
        since the last call are converted)."""
        events = session.events
        key = session.key
        entry = self._entries.get(key)
        if entry is not None and entry.seen <= len(events):
            if entry.seen == len(events):  # nothing new: the usual case after a turn
                if entry.seen == 0 or events[0].id == entry.first_id:
                    self._entries.move_to_end(key)
                    return entry
            elif events[0].id == entry.first_id:
                self._entries.move_to_end(key)
                self._grow(entry, events)
                return entry
        self.forget(key)
        entry = _Entry(events[0].id if events else None)
        entry.seen = _resume_at(events)
        self._entries[key] = entry
        if entry.seen < len(events):
            self._grow(entry, events)
        return entry

    def _grow(self, entry: _Entry, events: Sequence[Event]) -> None:
        """Convert the events after `entry.seen` and account for the memory they keep."""
        count = len(entry.messages)
        summary = entry.summary
        _feed(entry, events[entry.seen :])
        entry.seen = len(events)
        if entry.summary is summary:
            added = sum(map(message_size, entry.messages[count:]))
        else:  # a summary replaced older messages: count what is kept again
            added = sum(map(message_size, entry.messages)) - entry.size
        entry.size += added
        self.size += added
        self._evict()

    def forget(self, key: SessionKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= entry.size

    def __len__(self) -> int:
        return len(self._entries)

    def _evict(self) -> None:
        """Drop the least recently used sessions while over a bound (the newest may go too:
        its messages are still returned, just not kept)."""
        while self._entries and (len(self._entries) > self._max or self.size > self._max_bytes):
            _, entry = self._entries.popitem(last=False)
            self.size -= entry.size


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
