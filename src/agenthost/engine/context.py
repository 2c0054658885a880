"""Building the RunContext (agent protocol v1) for one run."""

from __future__ import annotations

from typing import Any

from agenthost.core.messages import FilePart, ImagePart, Message
from agenthost.core.session import Session
from agenthost.ports.protocol import (
    Attachment,
    ContextSection,
    DeliverySection,
    EventSection,
    EventSource,
    InputSection,
    Resources,
    RunContext,
    RuntimeSection,
)

HOST_APIS = [
    "models.invoke",
    "models.stream",
    "tools.detail",
    "tools.call",
    "knowledge.retrieve",
    "history.page",
    "history.search",
    "events.get",
    "events.page",
    "state",
    "storage",
    "artifacts",
]


def _attachments(message: Message) -> list[Attachment]:
    out: list[Attachment] = []
    for part in message.parts:
        if type(part) is ImagePart:
            out.append(Attachment(type="image", mime_type=part.mime_type, url=part.url))
        elif type(part) is FilePart:
            out.append(
                Attachment(type="file", mime_type=part.mime_type, url=part.url, name=part.name)
            )
    return out


def build_context(
    *,
    run_id: str,
    event_id: str,
    session: Session,
    message: Message,
    resources: Resources,
    deadline_at: float | None,
    trace_id: str | None,
    source: EventSource | None,
    delivery: DeliverySection | None,
    config: dict[str, Any],
    adapter: dict[str, Any] | None,
    cursor: int,
) -> RunContext:
    return RunContext(
        run_id=run_id,
        event=EventSection(
            event_id=event_id,
            source=source or EventSource(conversation_id=session.id, sender_id=session.user_id),
        ),
        input=InputSection(text=message.text, attachments=_attachments(message), message=message),
        context=ContextSection(
            conversation_id=session.id,
            user_id=session.user_id,
            app=session.app,
            latest_cursor=cursor,
            has_history_before=cursor > 0,
            available_apis=HOST_APIS,
        ),
        resources=resources,
        runtime=RuntimeSection(trace_id=trace_id, deadline_at=deadline_at),
        delivery=delivery or DeliverySection(),
        config=config,
        adapter=adapter or {},
        state=dict(session.state),
    )
