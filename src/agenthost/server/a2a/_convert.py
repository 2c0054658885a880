"""Our messages and events as A2A objects (the a2a-sdk 1.x protobuf types), and A2A input as
our messages.

A task is one run (task id = run id) in one session (context id = session id):

    run event                          A2A
    message.received (stored)          the task's first history message (role user)
    the first event of the agent       TaskStatusUpdateEvent WORKING
    message.delta                      TaskArtifactUpdateEvent: a text chunk appended to the
                                       artifact of the message being written
    message.completed (assistant)      the last chunk of that artifact (its whole content when
                                       nothing was streamed, or when it differs from the
                                       chunks); also an agent message of the task's history
    tool.call.started / .completed     TaskStatusUpdateEvent WORKING with a data part
    run.completed                      COMPLETED (metadata: usage); INPUT_REQUIRED when the run
                                       paused for an approval (docs/tools.md)
    run.failed, code cancelled or      CANCELED
      interrupted (a newer message)
    run.failed (other), run.interrupted FAILED, status message = the error, its metadata
                                       {"code", "retryable"}

Artifacts are numbered in the order the agent starts writing them: `response-1`, ...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from a2a.types import (
    Artifact,
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import InvalidParamsError
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct, Value
from google.protobuf.timestamp_pb2 import Timestamp

from agenthost.core import messages as ours
from agenthost.core.events import Event
from agenthost.core.usage import Usage

A2AEvent = Task | Message | TaskStatusUpdateEvent | TaskArtifactUpdateEvent

TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_REJECTED,
    }
)
ARTIFACT_NAME = "response"
_CANCELLED = ("cancelled", "interrupted")
_MAX_PARTS = 100


def state_name(state: TaskState) -> str:
    """`TASK_STATE_COMPLETED` -> `completed`."""
    return TaskState.Name(state).removeprefix("TASK_STATE_").lower()


def _struct(values: Mapping[str, Any]) -> Struct:
    out = Struct()
    out.update(dict(values))
    return out


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1_000_000_000))
    return stamp


def _usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None or (usage.requests == 0 and not usage.input_tokens):
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "requests": usage.requests,
        "cost": usage.cost,
    }


# ---- A2A input -> our user message -----------------------------------------------------------


def _json_text(value: Value) -> str:
    data: Any = json_format.MessageToDict(value)
    return orjson.dumps(data).decode()


def user_message(message: Message) -> ours.Message:
    """An A2A user message as ours: text parts, files and images by URL or bytes, structured
    data as JSON text. InvalidParamsError names what is wrong."""
    if message.role == Role.ROLE_AGENT:
        raise InvalidParamsError(message="message.role must be 'user' (ROLE_USER), not agent")
    if not message.parts:
        raise InvalidParamsError(message="message.parts is empty: send at least one part")
    if len(message.parts) > _MAX_PARTS:
        raise InvalidParamsError(message=f"message.parts has more than {_MAX_PARTS} parts")
    parts: list[ours.Part] = []
    for index, part in enumerate(message.parts):
        kind = part.WhichOneof("content")
        media = part.media_type
        if kind == "text":
            if part.text:
                parts.append(ours.TextPart(text=part.text))
        elif kind == "data":
            parts.append(ours.TextPart(text=_json_text(part.data)))
        elif kind in ("url", "raw"):
            url = part.url if kind == "url" else None
            data = part.raw if kind == "raw" else None
            if media.startswith("image/"):
                parts.append(ours.ImagePart(url=url, data=data, mime_type=media))
            else:
                parts.append(
                    ours.FilePart(
                        url=url,
                        data=data,
                        mime_type=media or "application/octet-stream",
                        name=part.filename or None,
                    )
                )
        else:
            raise InvalidParamsError(
                message=f"message.parts[{index}] has no content: set text, url, raw or data"
            )
    if not parts:
        raise InvalidParamsError(message="message.parts has no text and no file: nothing to do")
    return ours.Message(role="user", parts=tuple(parts))


# ---- our messages -> A2A ---------------------------------------------------------------------


def a2a_parts(message: ours.Message) -> list[Part]:
    """The parts a reader sees: text, images and files (tool calls are not shown)."""
    out: list[Part] = []
    for part in message.parts:
        if isinstance(part, ours.TextPart):
            if part.text:
                out.append(Part(text=part.text))
        elif isinstance(part, ours.ImagePart | ours.FilePart):
            name = part.name if isinstance(part, ours.FilePart) else None
            if part.url:
                out.append(Part(url=part.url, media_type=part.mime_type, filename=name or ""))
            elif part.data is not None:
                out.append(Part(raw=part.data, media_type=part.mime_type, filename=name or ""))
    return out


def a2a_message(
    message: ours.Message, *, message_id: str, task_id: str, context_id: str
) -> Message:
    role = Role.ROLE_USER if message.role == "user" else Role.ROLE_AGENT
    return Message(
        message_id=message_id,
        role=role,
        parts=a2a_parts(message),
        task_id=task_id,
        context_id=context_id,
    )


def _text_message(text: str, *, task_id: str, context_id: str, message_id: str) -> Message:
    return Message(
        message_id=message_id,
        role=Role.ROLE_AGENT,
        parts=[Part(text=text)],
        task_id=task_id,
        context_id=context_id,
    )


# ---- terminal events -> task states -------------------------------------------------------


PAUSED_NOTE = (
    "The run waits for a person's approval of a tool call: GET /v1/apps/AGENT/approvals lists "
    "it, POST /v1/apps/AGENT/approvals/ID answers it (docs/tools.md, Human approval)."
)


def terminal_state(event: Event) -> TaskState:
    if event.type == "run.completed":
        if (event.data or {}).get("status") == "paused":  # waits for an approval
            return TaskState.TASK_STATE_INPUT_REQUIRED
        return TaskState.TASK_STATE_COMPLETED
    if event.type == "run.failed" and (event.data or {}).get("status") in _CANCELLED:
        return TaskState.TASK_STATE_CANCELED
    return TaskState.TASK_STATE_FAILED


def terminal_status(event: Event, *, task_id: str, context_id: str) -> TaskStatus:
    """The status a terminal event gives: a failure carries its error as the status message
    (metadata: code, retryable)."""
    state = terminal_state(event)
    status = TaskStatus(state=state, timestamp=_timestamp(event.timestamp))
    error = event.error
    if error is not None and state != TaskState.TASK_STATE_COMPLETED:
        message = _text_message(
            error.message, task_id=task_id, context_id=context_id, message_id=event.id
        )
        message.metadata.CopyFrom(_struct({"code": error.code, "retryable": error.retryable}))
        status.message.CopyFrom(message)
    elif state == TaskState.TASK_STATE_INPUT_REQUIRED:
        note = _text_message(
            PAUSED_NOTE, task_id=task_id, context_id=context_id, message_id=event.id
        )
        status.message.CopyFrom(note)
    return status


def terminal_metadata(event: Event) -> Struct | None:
    usage = _usage(event.usage)
    return _struct({"agenthost": {"usage": usage}}) if usage is not None else None


# ---- a whole task from a run's events -------------------------------------------------------


def _answers(events: Iterable[Event]) -> list[Event]:
    return [
        e
        for e in events
        if e.type == "message.completed"
        and e.message is not None
        and e.message.role == "assistant"
        and a2a_parts(e.message)
    ]


def build_task(
    run_id: str, session_id: str, events: Sequence[Event], *, working: bool = False
) -> Task:
    """The task of a run from its events (stored ones, plus a terminal event that could not be
    stored): status, one artifact per answer, history = the user's message and the answers.
    An unfinished run is WORKING once the agent produced anything (`working`: something not
    stored yet, such as a delta), else SUBMITTED."""
    task = Task(id=run_id, context_id=session_id)
    terminal = next((e for e in reversed(events) if e.is_terminal), None)
    for event in events:
        if event.type == "message.received" and event.message is not None:
            task.history.append(
                a2a_message(
                    event.message, message_id=event.id, task_id=run_id, context_id=session_id
                )
            )
            break
    for number, event in enumerate(_answers(events), start=1):
        assert event.message is not None
        task.artifacts.append(
            Artifact(
                artifact_id=f"{ARTIFACT_NAME}-{number}",
                name=ARTIFACT_NAME,
                parts=a2a_parts(event.message),
            )
        )
        task.history.append(
            a2a_message(event.message, message_id=event.id, task_id=run_id, context_id=session_id)
        )
    if terminal is not None:
        task.status.CopyFrom(terminal_status(terminal, task_id=run_id, context_id=session_id))
        metadata = terminal_metadata(terminal)
        if metadata is not None:
            task.metadata.CopyFrom(metadata)
        return task
    working = working or any(e.type != "message.received" for e in events)
    state = TaskState.TASK_STATE_WORKING if working else TaskState.TASK_STATE_SUBMITTED
    last = events[-1].timestamp if events else None
    task.status.CopyFrom(TaskStatus(state=state))
    if last is not None:
        task.status.timestamp.CopyFrom(_timestamp(last))
    return task


# ---- a run's events as a stream of A2A events ------------------------------------------------


@dataclass(slots=True)
class _Open:
    """The artifact of an answer being streamed."""

    artifact_id: str
    text: list[str] = field(default_factory=list)


class StreamMapper:
    """Turns the events of one run, in order, into A2A stream events (see the module doc).

    `answers` and `working` describe what a reader already has (a resubscription starts from
    a snapshot of the task)."""

    def __init__(
        self, run_id: str, session_id: str, *, answers: int = 0, working: bool = False
    ) -> None:
        self.task_id = run_id
        self.context_id = session_id
        self._count = answers
        self._working = working
        self._open: dict[str, _Open] = {}

    def _status(self, state: TaskState, message: Message | None = None) -> TaskStatusUpdateEvent:
        status = TaskStatus(state=state)
        status.timestamp.GetCurrentTime()
        if message is not None:
            status.message.CopyFrom(message)
        return TaskStatusUpdateEvent(
            task_id=self.task_id, context_id=self.context_id, status=status
        )

    def _artifact(
        self, artifact_id: str, parts: list[Part], *, append: bool, last: bool
    ) -> TaskArtifactUpdateEvent:
        return TaskArtifactUpdateEvent(
            task_id=self.task_id,
            context_id=self.context_id,
            artifact=Artifact(artifact_id=artifact_id, name=ARTIFACT_NAME, parts=parts),
            append=append,
            last_chunk=last,
        )

    def _new_artifact(self) -> str:
        self._count += 1
        return f"{ARTIFACT_NAME}-{self._count}"

    def map(self, event: Event) -> list[A2AEvent]:
        kind = event.type
        if kind == "message.received":
            return []
        out: list[A2AEvent] = []
        if not self._working and not event.is_terminal:
            self._working = True
            out.append(self._status(TaskState.TASK_STATE_WORKING))
        if kind == "message.delta":
            out.extend(self._delta(event))
        elif kind == "message.completed":
            out.extend(self._completed(event))
        elif kind in ("tool.call.started", "tool.call.completed"):
            out.append(self._tool(event))
        elif event.is_terminal:
            update = TaskStatusUpdateEvent(
                task_id=self.task_id,
                context_id=self.context_id,
                status=terminal_status(event, task_id=self.task_id, context_id=self.context_id),
            )
            metadata = terminal_metadata(event)
            if metadata is not None:
                update.metadata.CopyFrom(metadata)
            out.append(update)
        return out

    def _delta(self, event: Event) -> list[A2AEvent]:
        text = event.text
        if not text:
            return []
        key = event.branch or event.author
        current = self._open.get(key)
        append = current is not None
        if current is None:
            current = self._open[key] = _Open(self._new_artifact())
        current.text.append(text)
        return [self._artifact(current.artifact_id, [Part(text=text)], append=append, last=False)]

    def _completed(self, event: Event) -> list[A2AEvent]:
        message = event.message
        if message is None or message.role != "assistant":
            return []
        parts = a2a_parts(message)
        current = self._open.pop(event.branch or event.author, None)
        if not parts:
            return []
        if current is None:
            return [self._artifact(self._new_artifact(), parts, append=False, last=True)]
        if "".join(current.text) == message.text:
            rest = [p for p in parts if p.WhichOneof("content") != "text"] or [Part(text="")]
            return [self._artifact(current.artifact_id, rest, append=True, last=True)]
        # the completed text differs from the chunks (e.g. moderation replaced it): replace
        return [self._artifact(current.artifact_id, parts, append=False, last=True)]

    def _tool(self, event: Event) -> TaskStatusUpdateEvent:
        data = dict(event.data or {})
        if event.type == "tool.call.completed":
            data["result"] = event.text
            if event.error is not None:
                data["error"] = event.error.message
        part = Part(data=json_format.ParseDict(data, Value()))
        message = Message(
            message_id=event.id,
            role=Role.ROLE_AGENT,
            parts=[part],
            task_id=self.task_id,
            context_id=self.context_id,
            metadata=_struct({"agenthost": {"event": event.type}}),
        )
        return self._status(TaskState.TASK_STATE_WORKING, message)
