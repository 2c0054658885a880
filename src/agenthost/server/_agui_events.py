"""Our events -> AG-UI events (the `ag-ui-protocol` package's types), for server/agui.py.

    run start                 RUN_STARTED (threadId, the client's runId), STATE_SNAPSHOT (the
                              session's state), MESSAGES_SNAPSHOT (the session's conversation)
    message.delta             TEXT_MESSAGE_START (first delta of a reply), TEXT_MESSAGE_CONTENT
    message.completed         TEXT_MESSAGE_END (or START/CONTENT/END when nothing streamed)
    tool.call.started         TOOL_CALL_START, TOOL_CALL_ARGS (the JSON arguments), TOOL_CALL_END
    tool.call.completed       TOOL_CALL_RESULT
    state.updated             STATE_DELTA (JSON Patch: add, or remove for a deleted key)
    approval.requested        TOOL_CALL_START/ARGS/END if the call was not shown yet; then an
                              interrupt of the RUN_FINISHED below
    run.completed             RUN_FINISHED (usage; outcome `interrupt` when paused for approvals)
    run.failed (cancelled, interrupted)   RUN_FINISHED, outcome `cancelled`
    run.failed, run.interrupted           RUN_ERROR (message, code)

Every event is built with the package's pydantic models (so it is what the protocol says)
and sent as `data: {json}` frames, as its `EventEncoder` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson

from agenthost.core.events import Event
from agenthost.core.messages import Message, ToolResultPart

INTERRUPT_REASON = "tool_approval"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _frame(model: Any) -> bytes:
    return b"data: %s\n\n" % model.model_dump_json(by_alias=True, exclude_none=True).encode()


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def agui_messages(events: Iterable[Event]) -> list[Any]:
    """A session's conversation as AG-UI messages: user and assistant text, the assistant's
    tool calls, tool results. Their ids are our event ids, never an id a stream used
    (`msg_...`, `tool_...`, a tool call's) nor the client's: the client's @ag-ui/client keeps
    a message whose id it knows at its old place, so an id in common would reorder the
    conversation; with none, the snapshot replaces the client's list as it is."""
    from ag_ui.core import AssistantMessage, FunctionCall, ToolCall, ToolMessage, UserMessage

    out: list[Any] = []
    for event in events:
        message = event.message
        if message is None or event.partial:
            continue
        if event.type == "message.received" and message.role == "user":
            out.append(UserMessage(id=event.id, content=message.text))
        elif event.type == "message.completed" and message.role == "assistant":
            calls = [
                ToolCall(id=c.id, function=FunctionCall(name=c.name, arguments=c.arguments or "{}"))
                for c in message.tool_calls
            ]
            out.append(
                AssistantMessage(
                    id=event.id, content=message.text or None, tool_calls=calls or None
                )
            )
        elif event.type == "tool.call.completed" and message.role == "tool":
            result = _tool_result(message)
            if result is not None:
                out.append(
                    ToolMessage(
                        id=event.id, tool_call_id=result.tool_call_id, content=result.content
                    )
                )
    return out


def _tool_result(message: Message) -> ToolResultPart | None:
    for part in message.parts:
        if isinstance(part, ToolResultPart):
            return part
    return None


class AguiMapper:
    """Turns one run's events into AG-UI frames (see the module doc)."""

    def __init__(self, thread_id: str, run_id: str, state: dict[str, Any]) -> None:
        self.thread_id = thread_id
        self.run_id = run_id  # the client's runId
        self.state = dict(state)  # what the client holds, to know when a key can be removed
        self._text: str | None = None  # the id of the text message being streamed
        self._last_assistant: str | None = None
        self._shown_calls: set[str] = set()
        self._interrupts: list[Any] = []
        self.finished = False

    def start(self, our_run_id: str, session_id: str, messages: list[Any]) -> bytes:
        from ag_ui.core import MessagesSnapshotEvent, RunStartedEvent, StateSnapshotEvent

        meta = {"agenthost": {"run_id": our_run_id, "session_id": session_id}}
        return b"".join(
            [
                _frame(
                    RunStartedEvent(
                        thread_id=self.thread_id,
                        run_id=self.run_id,
                        timestamp=_now_ms(),
                        metadata=meta,
                    )
                ),
                _frame(StateSnapshotEvent(snapshot=self.state, timestamp=_now_ms())),
                _frame(MessagesSnapshotEvent(messages=messages, timestamp=_now_ms())),
            ]
        )

    def frames(self, event: Event) -> bytes:
        handler = _HANDLERS.get(event.type)
        if handler is None:
            return b""
        return b"".join(_frame(m) for m in handler(self, event))

    # ---- text -----------------------------------------------------------------------------

    def _delta(self, event: Event) -> list[Any]:
        from ag_ui.core import TextMessageContentEvent, TextMessageStartEvent

        text = event.text
        if not text:
            return []
        out: list[Any] = []
        if self._text is None:
            self._text = f"msg_{event.id}"
            out.append(TextMessageStartEvent(message_id=self._text, role="assistant"))
        out.append(TextMessageContentEvent(message_id=self._text, delta=text))
        return out

    def _completed(self, event: Event) -> list[Any]:
        from ag_ui.core import (
            TextMessageContentEvent,
            TextMessageEndEvent,
            TextMessageStartEvent,
        )

        if event.message is None or event.message.role != "assistant":
            return []
        if self._text is not None:
            self._last_assistant = self._text
            return self._close_text()
        text = event.message.text
        if not text:
            return []
        self._last_assistant = mid = f"msg_{event.id}"
        return [
            TextMessageStartEvent(message_id=mid, role="assistant"),
            TextMessageContentEvent(message_id=mid, delta=text),
            TextMessageEndEvent(message_id=mid),
        ]

    def _close_text(self) -> list[Any]:
        from ag_ui.core import TextMessageEndEvent

        if self._text is None:
            return []
        mid, self._text = self._text, None
        return [TextMessageEndEvent(message_id=mid)]

    # ---- tools ----------------------------------------------------------------------------

    def _call(self, call_id: str, name: str, arguments: Any) -> list[Any]:
        from ag_ui.core import ToolCallArgsEvent, ToolCallEndEvent, ToolCallStartEvent

        if call_id in self._shown_calls:
            return []
        self._shown_calls.add(call_id)
        args = arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
        return [
            *self._close_text(),
            ToolCallStartEvent(
                tool_call_id=call_id, tool_call_name=name, parent_message_id=self._last_assistant
            ),
            ToolCallArgsEvent(tool_call_id=call_id, delta=args),
            ToolCallEndEvent(tool_call_id=call_id),
        ]

    def _tool_started(self, event: Event) -> list[Any]:
        data = event.data or {}
        return self._call(
            str(data.get("tool_call_id", event.id)),
            str(data.get("tool_name", "")),
            data.get("parameters"),
        )

    def _tool_completed(self, event: Event) -> list[Any]:
        from ag_ui.core import ToolCallResultEvent

        data = event.data or {}
        call_id = str(data.get("tool_call_id", ""))
        content = event.text
        if event.error is not None and not content:
            content = event.error.message
        return [
            ToolCallResultEvent(
                message_id=f"tool_{event.id}", tool_call_id=call_id, content=content, role="tool"
            )
        ]

    def _approval(self, event: Event) -> list[Any]:
        from ag_ui.core import Interrupt

        data = event.data or {}
        call_id = str(data.get("tool_call_id", ""))
        name = str(data.get("tool_name", ""))
        self._interrupts.append(
            Interrupt(
                id=str(data.get("approval_id", "")),
                reason=INTERRUPT_REASON,
                message=f"Approve the call of {name!r}?",
                tool_call_id=call_id or None,
                response_schema={
                    "type": "object",
                    "properties": {
                        "approve": {"type": "boolean"},
                        "arguments": {"type": "object"},
                        "message": {"type": "string"},
                    },
                    "required": ["approve"],
                },
                metadata={"agenthost": {"tool_name": name, "arguments": data.get("arguments")}},
            )
        )
        return self._call(call_id, name, data.get("arguments")) if call_id else []

    # ---- state ----------------------------------------------------------------------------

    def _state(self, event: Event) -> list[Any]:
        from ag_ui.core import StateDeltaEvent

        ops: list[dict[str, Any]] = []
        for key, value in (event.state_delta or {}).items():
            if key.startswith("temp:"):
                continue
            if value is None:
                if key in self.state:
                    del self.state[key]
                    ops.append({"op": "remove", "path": _pointer(key)})
            else:
                self.state[key] = value
                ops.append({"op": "add", "path": _pointer(key), "value": value})
        return [StateDeltaEvent.model_validate({"delta": ops})] if ops else []

    # ---- the end --------------------------------------------------------------------------

    def _end(self, event: Event) -> list[Any]:
        from ag_ui.core import (
            RunErrorEvent,
            RunFinishedCancelledOutcome,
            RunFinishedEvent,
            RunFinishedInterruptOutcome,
            TokenUsage,
        )

        self.finished = True
        out = self._close_text()
        data = event.data or {}
        meta = {
            "agenthost": {
                "run_id": event.run_id,
                "status": data.get("status"),
                "cost": (event.usage.cost if event.usage is not None else 0.0),
            }
        }
        usage = None
        if event.usage is not None and event.usage.requests:
            u = event.usage
            usage = [
                TokenUsage(
                    input_tokens=u.input_tokens,
                    output_tokens=u.output_tokens,
                    total_tokens=u.total_tokens,
                )
            ]
        code = event.error.code if event.error is not None else None
        if event.type == "run.completed":
            outcome: Any = None
            if data.get("status") == "paused" and self._interrupts:
                outcome = RunFinishedInterruptOutcome(interrupts=self._interrupts)
            out.append(
                RunFinishedEvent(
                    thread_id=self.thread_id,
                    run_id=self.run_id,
                    outcome=outcome,
                    usage=usage,
                    metadata=meta,
                    timestamp=_now_ms(),
                )
            )
        elif code in ("cancelled", "interrupted") and event.type == "run.failed":
            out.append(
                RunFinishedEvent(
                    thread_id=self.thread_id,
                    run_id=self.run_id,
                    outcome=RunFinishedCancelledOutcome(),
                    usage=usage,
                    metadata=meta,
                    timestamp=_now_ms(),
                )
            )
        else:
            message = event.error.message if event.error is not None else "the run failed"
            out.append(
                RunErrorEvent(
                    message=message,
                    code=code or "interrupted",
                    metadata=meta,
                    timestamp=_now_ms(),
                )
            )
        return out


_HANDLERS = {
    "message.delta": AguiMapper._delta,
    "message.completed": AguiMapper._completed,
    "tool.call.started": AguiMapper._tool_started,
    "tool.call.completed": AguiMapper._tool_completed,
    "approval.requested": AguiMapper._approval,
    "state.updated": AguiMapper._state,
    "run.completed": AguiMapper._end,
    "run.failed": AguiMapper._end,
    "run.interrupted": AguiMapper._end,
}
