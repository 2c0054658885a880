"""X output against a fake X API v2 on 127.0.0.1: threads, rate limits, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agenthost.channels import ChannelRuntime, Route
from agenthost.channels.x import XOutput
from agenthost.core.errors import DeliveryFailed
from tests.unit.channels.conftest import FeedInput, RecordingOutput, echo_agent
from tests.unit.channels.platform_fakes import FakeX
from tests.unit.channels.test_runtime import FAST_RETRY, running
from tests.unit.channels.test_telegram import delivery


@pytest.fixture
async def fake() -> AsyncIterator[FakeX]:
    async with FakeX() as fake:
        yield fake


def runtime_for(fake: FakeX, target: str) -> tuple[ChannelRuntime, FeedInput]:
    feed = FeedInput()
    runtime = ChannelRuntime(
        inputs=[feed],
        outputs=[RecordingOutput(), XOutput(name="x", token=fake.TOKEN, base_url=fake.url)],
        routes=[Route(outputs=("x",), target=target)],
        agent=echo_agent(),
        store="memory://",
        retry=FAST_RETRY,
        handle_signals=False,
    )
    return runtime, feed


async def test_a_long_reply_is_posted_as_a_thread(fake: FakeX) -> None:
    runtime, feed = runtime_for(fake, "1849999999999999999")
    words = " ".join(f"word{i}" for i in range(100))  # ~690 characters: three posts
    async with running(runtime):
        feed.put("a", words, id="long")
        await fake.wait_for(lambda: len(fake.posts) == 3)
    posts = list(fake.posts.items())
    assert all(len(body["text"]) <= 280 for _, body in posts)
    assert " ".join(body["text"] for _, body in posts) == f"echo: {words}"
    assert posts[0][1]["reply"] == {"in_reply_to_tweet_id": "1849999999999999999"}
    assert posts[1][1]["reply"] == {"in_reply_to_tweet_id": posts[0][0]}
    assert posts[2][1]["reply"] == {"in_reply_to_tweet_id": posts[1][0]}


async def test_a_timeline_target_posts_new_posts_and_429_is_retried(fake: FakeX) -> None:
    fake.rate_limited(reset_in=0)
    runtime, feed = runtime_for(fake, "timeline")
    async with running(runtime):
        feed.put("a", "good morning")
        await fake.wait_for(lambda: len(fake.posts) == 1)
    assert list(fake.posts.values()) == [{"text": "echo: good morning"}]
    status = runtime.statuses[("output", "x")]
    assert (status.retried, status.delivered) == (1, 1)


async def test_rate_limit_reset_and_refusals(fake: FakeX) -> None:
    out = XOutput(token=fake.TOKEN, base_url=fake.url)
    try:
        fake.rate_limited(reset_in=120)
        with pytest.raises(DeliveryFailed) as limited:
            await out.send(delivery("hello", target="timeline"))
        assert limited.value.retryable
        assert limited.value.retry_after is not None and 100 < limited.value.retry_after <= 120
        await out.send(delivery("hello", target="timeline"))
        with pytest.raises(DeliveryFailed, match="duplicate content") as duplicate:
            await out.send(delivery("hello", target="timeline"))
        assert not duplicate.value.retryable
        wrong = XOutput(token="nope", base_url=fake.url)
        with pytest.raises(DeliveryFailed, match="401") as unauthorized:
            await wrong.send(delivery("again", target="timeline"))
        assert not unauthorized.value.retryable
        await wrong.stop()
    finally:
        await out.stop()
