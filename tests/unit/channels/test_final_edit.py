"""The final edit of a streamed reply, shared by the Telegram, Discord and Slack outputs."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agenthost.channels._platform import final_edit
from agenthost.core.errors import DeliveryFailed
from agenthost.ports.channels import Delivery, OutboxItem

log = logging.getLogger("agenthost.channels.test")


def delivery(meta: dict[str, Any]) -> Delivery:
    item = OutboxItem(output="o", target="t", text="final", inbound_key=("o", "t", "1"), meta=meta)
    return Delivery(id=1, key="k", item=item)


class Editor:
    def __init__(self, refusal: DeliveryFailed | None = None) -> None:
        self.refusal = refusal
        self.edits: list[tuple[dict[str, Any], str]] = []

    async def __call__(self, handle: dict[str, Any], text: str) -> None:
        self.edits.append((handle, text))
        if self.refusal is not None:
            raise self.refusal


async def test_a_streamed_reply_ends_with_an_edit() -> None:
    edit = Editor()
    handle = {"message_id": 7}
    done = await final_edit(
        delivery({"edit": handle}), key="message_id", edit=edit, platform="p", log=log
    )
    assert done and edit.edits == [(handle, "final")]


@pytest.mark.parametrize("meta", [{}, {"edit": "msg-a"}, {"edit": {"ts": "1.2"}}])
async def test_a_reply_that_was_not_streamed_is_posted(meta: dict[str, Any]) -> None:
    edit = Editor()
    assert not await final_edit(delivery(meta), key="message_id", edit=edit, platform="p", log=log)
    assert edit.edits == []


async def test_an_edit_refused_for_good_is_posted_instead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    edit = Editor(DeliveryFailed("message to edit not found", retryable=False))
    with caplog.at_level(logging.INFO, logger=log.name):
        done = await final_edit(
            delivery({"edit": {"ts": "1.2"}}), key="ts", edit=edit, platform="slack", log=log
        )
    assert not done and len(edit.edits) == 1
    assert "slack: final edit refused" in caplog.text


async def test_a_retryable_refusal_is_raised_for_the_outbox() -> None:
    edit = Editor(DeliveryFailed("busy", retryable=True))
    with pytest.raises(DeliveryFailed, match="busy"):
        await final_edit(
            delivery({"edit": {"ts": "1.2"}}), key="ts", edit=edit, platform="slack", log=log
        )
