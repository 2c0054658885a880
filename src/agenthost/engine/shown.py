"""What the consumer of a run has seen, so that a reply cut off mid-stream is not lost.

Agents that stream (LLMAgent, the platform agents, framework adapters, plugins) note each
result they pass on; when the stream then fails, `cut_off()` is the text shown since the
last finished message, as a `MessageCompleted(incomplete=True)` to store before the failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agenthost.core.messages import Message
from agenthost.ports.protocol import MessageCompleted, MessageDelta, ResultBatch, StateUpdated


@dataclass(slots=True)
class Shown:
    """Anything shown besides state updates, and the text streamed since the last completed
    message."""

    anything: bool = False
    text: list[str] = field(default_factory=list)

    def note(self, batch: ResultBatch) -> None:
        for result in batch if isinstance(batch, list) else [batch]:
            if isinstance(result, StateUpdated):
                continue
            self.anything = True
            if isinstance(result, MessageDelta):
                self.text.append(result.text)
            elif isinstance(result, MessageCompleted):
                self.text.clear()

    def cut_off(self) -> MessageCompleted | None:
        """The reply streamed so far, marked incomplete (None when nothing was streamed)."""
        text = "".join(self.text)
        if not text:
            return None
        return MessageCompleted(message=Message.assistant(text), incomplete=True)
